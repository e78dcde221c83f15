import Foundation
import TallyProto
import TallyStore
import TallyWire

/// GetResults: gathers per-round, per-segment counts in SQL and lets `SurveyResultsBuilder` decide.
extension SurveyService {
  /// An account's NPS needs this many answers from its contacts.
  static let accountMinimumAnswers = 3

  struct RoundSelectionSpec {
    var roundID: String?
    var from: Int
    var to: Int

    init(_ selection: Tally_V1_RoundSelection) throws {
      var checker = FieldChecker(prefix: "rounds.")
      self.roundID = nil
      if !selection.roundID.isEmpty {
        self.roundID = try Validation.uuid(selection.roundID, field: "rounds.round_id")
        if selection.fromRound != 0 || selection.toRound != 0 {
          checker.add("round_id", "give either round_id or from_round/to_round")
        }
      }
      if selection.toRound != 0, selection.fromRound > selection.toRound {
        checker.add("from_round", "must not be after to_round (\(selection.toRound)); got \(selection.fromRound)")
      }
      try checker.check()
      self.from = Int(selection.fromRound)
      self.to = selection.toRound == 0 ? Int.max : Int(selection.toRound)
    }

    func contains(id: String, number: Int) -> Bool {
      if let roundID { return id == roundID }
      return number >= self.from && number <= self.to
    }
  }

  static func segmentFilter(_ filter: Tally_V1_SegmentFilter) throws -> SegmentFilterSpec {
    var checker = FieldChecker(prefix: "filter.")
    for (name, values) in [
      ("departments", filter.departments), ("teams", filter.teams), ("locations", filter.locations),
    ] {
      for (index, value) in values.enumerated() where value.isEmpty || value.count > 100 {
        checker.add("\(name)[\(index)]", "must be 1 to 100 characters, got \(value.count)")
      }
    }
    for (index, tier) in filter.tiers.enumerated() where tier > 3 {
      checker.add("tiers[\(index)]", "must be 0 to 3, got \(tier)")
    }
    if !filter.accountID.isEmpty {
      checker.text(filter.accountID, "account_id")
      if !(filter.departments.isEmpty && filter.teams.isEmpty && filter.locations.isEmpty && filter.tiers.isEmpty) {
        checker.add("account_id", "stands alone: an account's NPS takes no other filter")
      }
    }
    try checker.check()
    return SegmentFilterSpec(
      departments: filter.departments, teams: filter.teams, locations: filter.locations,
      tiers: Set(filter.tiers.map(Int.init)))
  }

  @Sendable func getResults(_ request: Tally_V1_GetResultsRequest, _ context: RequestContext) async throws
    -> Tally_V1_SurveyResults
  {
    let id = try Validation.uuid(request.surveyID, field: "survey_id")
    let selection = try RoundSelectionSpec(request.rounds)
    let filter = try Self.segmentFilter(request.filter)
    let now = self.nowMicros
    return try await self.database.transaction(context) { connection in
      let survey = try self.openedSurvey(id, now: now, connection)
      let rounds = try Self.roundData(survey, selection, now: now, connection)
      var results: Tally_V1_SurveyResults
      if request.filter.accountID.isEmpty {
        results = SurveyResultsBuilder(survey: survey, rounds: rounds, filter: filter).build()
      } else {
        guard !survey.anonymous, survey.kind == "nps" else {
          throw RPCError.invalidArgument(
            field: "filter.account_id", "only identified NPS surveys have answers by account; this one is anonymous")
        }
        results = try AccountNPS(survey: survey, rounds: rounds, accountID: request.filter.accountID)
          .build(connection)
      }
      results.surveyID = id
      return results
    }
  }

  /// A survey's stored settings, without locking it.
  static func stored(_ id: String, _ connection: PostgresConnection) throws -> StoredSurvey {
    let rows = try connection.query(
      """
      SELECT kind, questions::text AS questions, anonymous, anonymity_threshold, archived_at IS NOT NULL AS archived
      FROM surveys WHERE survey_id = $1::uuid
      """, [id]
    ).rows
    guard let row = rows.first else { throw RPCError(code: .notFound, message: "no survey \(id)") }
    return try StoredSurvey(id: id, row)
  }

  /// Every round of the survey with its counts per segment; NOT_FOUND when the selection names a
  /// round of another survey.
  /// Without `countingAnswers`, the rounds' `answers` stay empty: counting each question's values
  /// reads every stored answer, which a comment page (judged by responses alone) does not need.
  static func roundData(
    _ survey: StoredSurvey, _ selection: RoundSelectionSpec, now: Int64, countingAnswers: Bool = true,
    _ connection: PostgresConnection
  ) throws -> [SurveyResultsBuilder.RoundData] {
    var rounds: [SurveyResultsBuilder.RoundData] = []
    var index: [String: Int] = [:]
    for row in try connection.query(
      """
      SELECT r.round_id::text AS round_id, r.number, \(Micros.column("r.opens_at")), \(Self.roundOpenSQL("$2")) AS open
      FROM survey_rounds r WHERE r.survey_id = $1::uuid ORDER BY r.number
      """, [survey.id, now]
    ).rows {
      let id = try row.require(String.self, "round_id")
      let number = try row.require(Int.self, "number")
      index[id] = rounds.count
      rounds.append(
        .init(
          id: id, number: number, opensAt: try row.require(Int64.self, "opens_at"),
          open: try row.require(Bool.self, "open"), selected: selection.contains(id: id, number: number)))
    }
    if let roundID = selection.roundID, index[roundID] == nil {
      throw RPCError(code: .notFound, message: "survey \(survey.id) has no round \(roundID)")
    }
    let segment = "department, team, location, tier"
    for row in try connection.query(
      """
      SELECT round_id::text AS round_id, \(segment), score, count(*) AS n FROM survey_responses
      WHERE survey_id = $1::uuid GROUP BY round_id, \(segment), score
      """, [survey.id]
    ).rows {
      guard let at = index[try row.require(String.self, "round_id")] else { continue }
      let key = try Self.segmentKey(row)
      let count = UInt64(try row.require(Int64.self, "n"))
      rounds[at].responses[key, default: 0] += count
      if let score = try row.decode(Int.self, "score") {
        var distribution = rounds[at].scores[key, default: .empty].distribution
        distribution[score] += count
        rounds[at].scores[key] = NPSScore(distribution: distribution)
      }
    }
    for row in try connection.query(
      """
      SELECT i.round_id::text AS round_id, i.department, i.team, i.location, i.tier, count(*) AS n
      FROM survey_invitations i JOIN survey_rounds r ON r.tenant_id = i.tenant_id AND r.round_id = i.round_id
      WHERE r.survey_id = $1::uuid GROUP BY i.round_id, i.department, i.team, i.location, i.tier
      """, [survey.id]
    ).rows {
      guard let at = index[try row.require(String.self, "round_id")] else { continue }
      rounds[at].invitations[try Self.segmentKey(row), default: 0] += UInt64(try row.require(Int64.self, "n"))
    }
    guard countingAnswers else { return rounds }
    for row in try connection.query(
      """
      SELECT r.round_id::text AS round_id, r.department, r.team, r.location, r.tier, q.key AS question, v.value,
        count(*) AS n
      FROM survey_responses r
      CROSS JOIN LATERAL jsonb_each(r.answers) q
      -- chr(1) is RoundData.answeredMarker, chr(2) RoundData.setMarker (a multiple choice's whole set,
      -- stored in the question's order); one array per answer, not a union of three sub-queries
      -- (half the time of this statement on 20,000 answers).
      CROSS JOIN LATERAL unnest(
        CASE jsonb_typeof(q.value)
          WHEN 'array' THEN array_prepend(chr(1), ARRAY(SELECT jsonb_array_elements_text(q.value)))
            || (chr(2) || q.value::text)
          WHEN 'boolean' THEN ARRAY[chr(1), CASE WHEN q.value = 'true'::jsonb THEN 'yes' ELSE 'no' END]
          WHEN 'number' THEN ARRAY[chr(1), q.value::text]
          ELSE ARRAY[chr(1)]
        END
      ) AS v(value)
      WHERE r.survey_id = $1::uuid AND jsonb_typeof(q.value) <> 'string'
      GROUP BY r.round_id, r.department, r.team, r.location, r.tier, q.key, v.value
      """, [survey.id]
    ).rows {
      guard let at = index[try row.require(String.self, "round_id")] else { continue }
      let key = try Self.segmentKey(row)
      rounds[at].answers[key, default: [:]][try row.require(String.self, "question"), default: [:]][
        try row.require(String.self, "value"), default: 0] += UInt64(try row.require(Int64.self, "n"))
    }
    return rounds
  }

  static func segmentKey(_ row: PostgresRow) throws -> SegmentKey {
    SegmentKey(
      department: try row.decode(String.self, "department"), team: try row.decode(String.self, "team"),
      location: try row.decode(String.self, "location"), tier: try row.decode(Int.self, "tier"))
  }
}

/// An account's NPS from an identified survey: per round, and overall from the latest answer of
/// each of its contacts; fewer than three answers show no numbers.
struct AccountNPS {
  let survey: StoredSurvey
  let rounds: [SurveyResultsBuilder.RoundData]
  let accountID: String

  /// The contacts invited in the selected rounds, each once: the overall cell counts each contact's
  /// latest answer once, so its response rate counts each invited contact once too. A deleted
  /// contact's invitations name nobody, and its answers cannot be told from another's: both sides
  /// leave them out (the rounds' own cells keep them).
  private func invitedContacts(_ connection: PostgresConnection) throws -> UInt64 {
    let selected = self.rounds.filter(\.selected).map(\.id)
    let row = try connection.query(
      """
      SELECT count(DISTINCT contact_id) AS n
      FROM survey_invitations WHERE account_id = $1 AND round_id = ANY($2::uuid[])
      """, [self.accountID, PostgresArray.literal(selected)]
    ).rows.first
    return UInt64(try row?.require(Int64.self, "n") ?? 0)
  }

  func build(_ connection: PostgresConnection) throws -> Tally_V1_SurveyResults {
    var results = Tally_V1_SurveyResults()
    results.kind = self.survey.kind
    results.anonymityThreshold = UInt32(self.survey.threshold)
    let minimum = SurveyService.accountMinimumAnswers
    let rows = try connection.query(
      """
      SELECT r.round_id::text AS round_id, r.score, i.contact_id, \(Micros.column("i.answered_at"))
      FROM survey_responses r JOIN survey_response_identities i USING (tenant_id, response_id)
      WHERE r.survey_id = $1::uuid AND i.account_id = $2 AND r.score IS NOT NULL
      ORDER BY i.answered_at
      """, [self.survey.id, self.accountID]
    ).rows
    let invited = try connection.query(
      """
      SELECT i.round_id::text AS round_id, count(*) AS n FROM survey_invitations i
      JOIN survey_rounds r ON r.tenant_id = i.tenant_id AND r.round_id = i.round_id
      WHERE r.survey_id = $1::uuid AND i.account_id = $2 GROUP BY i.round_id
      """, [self.survey.id, self.accountID]
    ).rows.reduce(into: [String: UInt64]()) {
      $0[try $1.require(String.self, "round_id")] = UInt64(try $1.require(Int64.self, "n"))
    }
    var perRound: [String: [Int]] = [:]
    /// Each contact's latest answer, by the id's bytes (two contacts may look alike).
    var latest: [ExactID: Tally_V1_ContactAnswer] = [:]
    let numbers = Dictionary(uniqueKeysWithValues: self.rounds.map { ($0.id, $0) })
    for row in rows {
      let roundID = try row.require(String.self, "round_id")
      guard let round = numbers[roundID] else { continue }
      let score = try row.require(Int.self, "score")
      perRound[roundID, default: []].append(score)
      guard round.selected, let contact = try row.decode(String.self, "contact_id") else { continue }
      var answer = Tally_V1_ContactAnswer()
      answer.contactID = contact
      answer.score = UInt32(score)
      answer.roundNumber = UInt32(round.number)
      answer.answeredAt = Micros.timestamp(try row.require(Int64.self, "answered_at"))
      latest[ExactID(contact)] = answer
    }
    func cell(_ scores: [Int], invitations: UInt64) -> Tally_V1_ResultCell {
      guard scores.count >= minimum else {
        return SurveyResultsBuilder.suppressed("fewer than \(minimum) answers from the account's contacts")
      }
      return SurveyResultsBuilder.cell(
        score: NPSScore(answers: scores), responses: UInt64(scores.count), invitations: invitations, hasScore: true)
    }
    var shown: [(number: Int, score: NPSScore)] = []
    for round in self.rounds where round.selected {
      var entry = Tally_V1_RoundResult()
      entry.roundID = round.id
      entry.number = UInt32(round.number)
      entry.opensAt = Micros.timestamp(round.opensAt)
      entry.cell = cell(perRound[round.id, default: []], invitations: invited[round.id, default: 0])
      if !entry.cell.suppressed { shown.append((round.number, NPSScore(answers: perRound[round.id, default: []]))) }
      results.trend.append(entry)
    }
    results.contactAnswers = latest.sorted { $0.key < $1.key }.map(\.value)  // by the ids' bytes
    results.overall = cell(
      results.contactAnswers.map { Int($0.score) }, invitations: try self.invitedContacts(connection))
    results.notes.append("the account's NPS counts the latest answer of each contact in the selected rounds")
    results.change.reason = "no two rounds with \(minimum) or more answers from the account"
    if let last = shown.last {
      let earlier = self.rounds.filter { $0.number < last.number }.reversed().first {
        perRound[$0.id, default: []].count >= minimum
      }
      if let earlier, let change = NPSChange(current: last.score, previous: NPSScore(answers: perRound[earlier.id]!)) {
        results.change = Tally_V1_ScoreChange()
        results.change.available = true
        results.change.roundNumber = UInt32(last.number)
        results.change.previousRoundNumber = UInt32(earlier.number)
        results.change.score = last.score.score ?? 0
        results.change.previousScore = NPSScore(answers: perRound[earlier.id]!).score ?? 0
        results.change.change = change.change
        results.change.combinedMargin = change.combinedMargin
        results.change.beyondMargin = change.beyondMargin
      }
    }
    return results
  }
}
