import Foundation
import SwiftProtobuf
import TallyClient
import TallyCore
import TallyProto
import TallyStore
import TallyWire
import Testing

/// GetResults, ListComments and ExportResponses: scores against hand-computed values, and the
/// anonymity rules against the stored rows.
@Suite struct SurveyResultsTests {
  /// Opens a round of `surveyID`, answers it with `scores` (team per answer), and closes it.
  static func round(
    _ context: DataTestContext, _ surveyID: String, _ scores: [Int32], teams: [String]? = nil, comment: String? = nil,
    unansweredTeams: [String] = []
  ) async throws -> String {
    let round = try await SurveyFixture.openRound(context.clientA, surveyID)
    for team in unansweredTeams {
      _ = try await SurveyFixture.tokens(context.clientA, round.id, 1, team: team, department: "eng")
    }
    for (index, score) in scores.enumerated() {
      let team = teams?[index] ?? "core"
      let token = try await SurveyFixture.tokens(context.clientA, round.id, 1, team: team, department: "eng")[0]
      var answers = [SurveyFixture.number("score", score)]
      if let comment { answers.append(SurveyFixture.text("reason", "\(comment) \(index)")) }
      try await SurveyFixture.submit(context.collectorA, token, answers)
    }
    try await SurveyFixture.closeRound(context.clientA, round.id)
    return round.id
  }

  /// Every row ExportResponses streams for the survey.
  static func export(_ context: DataTestContext, _ surveyID: String) async throws -> [Tally_V1_ExportedResponse] {
    var export = Tally_V1_ExportResponsesRequest()
    export.surveyID = surveyID
    return try await context.readerA.serverStreaming(SurveyMethods.exportResponses, export) { responses in
      var all: [Tally_V1_ExportedResponse] = []
      for try await response in responses { all.append(response) }
      return all
    }
  }

  @Test func scoresTrendAndSuppressionAtTheThreshold() async throws {
    try await DataTestContext.with { context in
      let survey = try await context.clientA.unary(SurveyMethods.createSurvey, SurveyFixture.survey("enps"))
      // Round 1: four answers, one below the threshold of five.
      _ = try await Self.round(context, survey.id, [10, 9, 0, 7])
      // Round 2: exactly five: 2 promoters, 1 passive, 2 detractors → 0.
      let second = try await Self.round(context, survey.id, [10, 9, 8, 6, 0])
      // Round 3: six, plus an unanswered invitation: 4 promoters, 2 detractors → 100 × 2 / 6.
      let third = try await Self.round(context, survey.id, [10, 10, 9, 9, 3, 5])
      let results = try await SurveyFixture.results(context.readerA, survey.id)
      #expect(results.trend.map(\.number) == [1, 2, 3])
      #expect(
        results.trend[0].cell.suppressed && !results.trend[0].cell.hasScore && results.trend[0].cell.responses == 0)
      #expect(results.trend[1].cell.score == 0 && results.trend[1].cell.responses == 5)
      #expect(results.trend[1].cell.distribution == [1, 0, 0, 0, 0, 0, 1, 0, 1, 1, 1])
      #expect(abs(results.trend[2].cell.score - 100.0 * 2 / 6) < 1e-9)
      // Pooled rounds 2 and 3: 6 promoters, 1 passive, 4 detractors of 11.
      #expect(abs(results.overall.score - 100.0 * 2 / 11) < 1e-9)
      #expect(results.overall.responses == 11 && results.overall.invitations == 11 && results.overall.responseRate == 1)
      let pP = 6.0 / 11
      let pD = 4.0 / 11
      #expect(abs(results.overall.marginOfError - 196 * ((pP + pD - (pP - pD) * (pP - pD)) / 11).squareRoot()) < 1e-9)
      #expect(results.notes.count == 1 && results.notes[0].hasPrefix("round 1 left out"))
      #expect(results.change.available && results.change.roundNumber == 3 && results.change.previousRoundNumber == 2)
      #expect(abs(results.change.change - 100.0 * 2 / 6) < 1e-9 && !results.change.beyondMargin)
      #expect(results.questions.map(\.questionID) == ["score"])
      let answered: [Double] = [10, 9, 8, 6, 0, 10, 10, 9, 9, 3, 5]
      let average = answered.reduce(0, +) / 11
      #expect(abs(results.questions[0].average - average) < 1e-9)

      let single = try await SurveyFixture.results(context.readerA, survey.id, round: second)
      #expect(single.trend.map(\.number) == [2] && single.overall.score == 0 && !single.change.available)
      let range = try await SurveyFixture.results(context.readerA, survey.id, from: 3, to: 3)
      #expect(range.overall == range.trend[0].cell && range.trend[0].roundID == third)

      // A round still open shows nothing of an anonymous survey.
      let open = try await SurveyFixture.openRound(context.clientA, survey.id)
      for token in try await SurveyFixture.tokens(context.clientA, open.id, 6) {
        try await SurveyFixture.submit(context.collectorA, token, [SurveyFixture.number("score", 10)])
      }
      let live = try await SurveyFixture.results(context.readerA, survey.id, round: open.id)
      #expect(live.overall.suppressed && live.overall.suppressedReason.contains("still open"))
    }
  }

  /// A choice may be spelled like anything a respondent can type, even the server's own markers:
  /// it is counted once per respondent who chose it.
  /// An anonymous survey's scored question made optional behind the API's back (stored before the
  /// rule, or by hand): its answers, from some respondents only, are never shown.
  @Test func anOptionalScoredQuestionOfAnAnonymousSurveyIsNeverShown() async throws {
    try await DataTestContext.with { context in
      let survey = try await context.clientA.unary(SurveyMethods.createSurvey, SurveyFixture.pulse())
      #expect(survey.anonymous)
      let owner = try PostgresConnection(conninfo: context.ownerURL)
      defer { owner.close() }
      try owner.query("SELECT set_config('tally.tenant_id', $1, false)", [context.tenantA])
      let changed = try owner.query(
        """
        UPDATE surveys SET questions = (
          SELECT jsonb_agg(CASE WHEN q->>'id' = 'tools' THEN jsonb_set(q, '{required}', 'false') ELSE q END
                           ORDER BY n)
          FROM jsonb_array_elements(questions) WITH ORDINALITY AS a(q, n))
        WHERE survey_id = $1::uuid RETURNING survey_id
        """, [survey.id])
      #expect(changed.rows.count == 1)
      let round = try await SurveyFixture.openRound(context.clientA, survey.id)
      for (index, score) in [10, 9, 8, 6, 0, 7].enumerated() {
        let token = try await SurveyFixture.tokens(context.clientA, round.id, 1, team: "core", department: "eng")[0]
        var answers = [
          SurveyFixture.number("mood", Int32(score)), SurveyFixture.choices("focus", ["code"]),
          SurveyFixture.yes("remote", true),
        ]
        if index < 5 { answers.append(SurveyFixture.number("tools", 4)) }  // the sixth skips it
        try await SurveyFixture.submit(context.collectorA, token, answers)
      }
      try await SurveyFixture.closeRound(context.clientA, round.id)
      let results = try await SurveyFixture.results(context.readerA, survey.id)
      #expect(results.overall.responses == 6 && !results.overall.suppressed)
      let questions = Dictionary(uniqueKeysWithValues: results.questions.map { ($0.questionID, $0) })
      #expect(questions["mood"]?.suppressed == false && questions["mood"]?.answers == 6)
      let tools = try #require(questions["tools"])
      #expect(tools.suppressed && tools.distribution.isEmpty && tools.answers == 0, "\(tools)")
      #expect(tools.suppressedReason.hasPrefix("an optional question of an anonymous survey"))
    }
  }

  @Test func aChoiceSpelledLikeAMarkerCountsOnce() async throws {
    try await DataTestContext.with { context in
      var request = SurveyFixture.pulse()
      request.survey.questions = [
        SurveyFixture.question("pick", "single_choice", required: true, choices: ["#", "other"])
      ]
      let survey = try await context.clientA.unary(SurveyMethods.createSurvey, request)
      let round = try await SurveyFixture.openRound(context.clientA, survey.id)
      let tokens = try await SurveyFixture.tokens(context.clientA, round.id, 10, team: "core")
      for (index, token) in tokens.enumerated() {
        try await SurveyFixture.submit(
          context.collectorA, token, [SurveyFixture.choices("pick", [index < 4 ? "#" : "other"])])
      }
      try await SurveyFixture.closeRound(context.clientA, round.id)
      let results = try await SurveyFixture.results(context.readerA, survey.id)
      let pick = try #require(results.questions.first { $0.questionID == "pick" })
      #expect(!pick.suppressed && pick.answers == 10)
      #expect(pick.distribution.map(\.value) == ["#", "other"])
      #expect(pick.distribution.map(\.count) == [4, 6])
      #expect(pick.distribution.map(\.share) == [0.4, 0.6])
    }
  }

  @Test func filtersNeverIsolateASmallTeam() async throws {
    try await DataTestContext.with { context in
      let survey = try await context.clientA.unary(SurveyMethods.createSurvey, SurveyFixture.survey("enps"))
      let teams = Array(repeating: "big", count: 6) + Array(repeating: "other", count: 5) + ["small", "small"]
      _ = try await Self.round(context, survey.id, [10, 10, 10, 10, 10, 10, 0, 0, 0, 0, 0, 9, 9], teams: teams)
      let all = try await SurveyFixture.results(context.readerA, survey.id)
      #expect(all.overall.responses == 13 && !all.overall.suppressed)
      // "small" is merged into "big" (the largest team): "big" alone, or "all but small", would reveal it.
      for filter in [["small"], ["big"], ["big", "other"]] {
        let filtered = try await SurveyFixture.results(context.readerA, survey.id, teams: filter)
        #expect(filtered.overall.suppressed, "\(filter)")
        #expect(!filtered.overall.hasScore && filtered.overall.responses == 0 && filtered.overall.distribution.isEmpty)
      }
      let other = try await SurveyFixture.results(context.readerA, survey.id, teams: ["other"])
      #expect(other.overall.score == -100 && other.overall.responses == 5)
      let bigAndSmall = try await SurveyFixture.results(context.readerA, survey.id, teams: ["big", "small"])
      #expect(bigAndSmall.overall.score == 100 && bigAndSmall.overall.responses == 8)
    }
  }

  @Test func filtersDoNotTellWhetherAOnePersonTeamAnswered() async throws {
    try await DataTestContext.with { context in
      let survey = try await context.clientA.unary(SurveyMethods.createSurvey, SurveyFixture.survey("enps"))
      // "solo" was invited and did not answer. Had it answered, "big" alone would have split its
      // block, so "big" must be suppressed either way: otherwise the verdict says who took part.
      let teams = Array(repeating: "big", count: 6) + Array(repeating: "other", count: 5)
      _ = try await Self.round(
        context, survey.id, [10, 10, 10, 10, 10, 10, 0, 0, 0, 0, 0], teams: teams, unansweredTeams: ["solo"])
      let big = try await SurveyFixture.results(context.readerA, survey.id, teams: ["big"])
      #expect(big.overall.suppressed && big.overall.responses == 0, "\(big.overall)")
      let bigAndSolo = try await SurveyFixture.results(context.readerA, survey.id, teams: ["big", "solo"])
      #expect(
        bigAndSolo.overall.score == 100 && bigAndSolo.overall.responses == 6 && bigAndSolo.overall.invitations == 7)
      let other = try await SurveyFixture.results(context.readerA, survey.id, teams: ["other"])
      #expect(other.overall.score == -100 && other.overall.responses == 5)

      let exported = try await Self.export(context, survey.id)
      // "other" is a block of its own; "big" shares one with "solo", so its rows carry no team.
      #expect(
        exported.map(\.segment.team).sorted() == Array(repeating: "", count: 6) + Array(repeating: "other", count: 5))
    }
  }

  @Test func accountNPSUsesTheLatestAnswerOfEachContact() async throws {
    try await DataTestContext.with { context in
      _ = try await context.clientA.unary(
        AccountMethods.upsertAccount, Fixture.upsert(Fixture.account("acme", tier: 2)))
      let contacts = ["c1", "c2", "c3", "c4"]
      for contact in contacts {
        _ = try await context.clientA.unary(
          AccountMethods.upsertContact, Fixture.upsert(Fixture.contact(contact, account: "acme")))
      }
      let survey = try await context.clientA.unary(SurveyMethods.createSurvey, SurveyFixture.survey("nps"))
      let first = try await SurveyFixture.openRound(context.clientA, survey.id)
      let tokens1 = try await SurveyFixture.contactTokens(context.clientA, first.id, contacts)
      for (contact, score) in [("c1", 10), ("c2", 6), ("c3", 9)] {
        let stored = try await SurveyFixture.submit(
          context.collectorA, tokens1[contact]!, [SurveyFixture.number("score", Int32(score))])
        #expect(!stored.responseID.isEmpty)
      }
      _ = await expectStatus(.alreadyExists) {
        try await SurveyFixture.contactTokens(context.clientA, first.id, ["c1"])
      }
      _ = await expectStatus(.notFound) { try await SurveyFixture.contactTokens(context.clientA, first.id, ["ghost"]) }
      try await SurveyFixture.closeRound(context.clientA, first.id)
      let second = try await SurveyFixture.openRound(context.clientA, survey.id)
      let tokens2 = try await SurveyFixture.contactTokens(context.clientA, second.id, ["c2", "c4"])
      try await SurveyFixture.submit(context.collectorA, tokens2["c2"]!, [SurveyFixture.number("score", 9)])
      try await SurveyFixture.submit(context.collectorA, tokens2["c4"]!, [SurveyFixture.number("score", 3)])

      let results = try await SurveyFixture.results(context.readerA, survey.id, account: "acme")
      // Round 1: 10, 6, 9 → 100 × (2 − 1) / 3; round 2 has two answers: suppressed.
      #expect(abs(results.trend[0].cell.score - 100.0 / 3) < 1e-9)
      #expect(results.trend[1].cell.suppressed)
      // Latest per contact: c1 10, c2 9, c3 9, c4 3 → 100 × (3 − 1) / 4 = 50.
      #expect(results.overall.score == 50 && results.overall.responses == 4)
      // Four contacts invited (c2 twice): each counted once, as their latest answers are.
      #expect(results.overall.invitations == 4 && results.overall.responseRate == 1)
      #expect(
        results.contactAnswers.map(\.contactID) == contacts && results.contactAnswers.map(\.score) == [10, 9, 9, 3])
      let tiers = try await SurveyFixture.results(context.readerA, survey.id)
      #expect(tiers.overall.responses == 5, "an identified survey without threshold shows every answer")

      // c3 deleted: its answers and its invitation name nobody, so the overall cell (each contact's
      // latest answer, against each contact invited) leaves both out; its round keeps them.
      var delete = Tally_V1_DeleteContactRequest()
      delete.id = "c3"
      _ = try await context.clientA.unary(AccountMethods.deleteContact, delete)
      let afterDelete = try await SurveyFixture.results(context.readerA, survey.id, account: "acme")
      // c1 10, c2 9, c4 3 → 100 × (2 − 1) / 3.
      #expect(abs(afterDelete.overall.score - 100.0 / 3) < 1e-9 && afterDelete.overall.responses == 3)
      #expect(afterDelete.overall.invitations == 3 && afterDelete.overall.responseRate == 1)
      #expect(afterDelete.contactAnswers.map(\.contactID) == ["c1", "c2", "c4"])
      #expect(afterDelete.trend[0].cell == results.trend[0].cell)

      let enps = try await context.clientA.unary(SurveyMethods.createSurvey, SurveyFixture.survey("enps"))
      await expectViolation("filter.account_id") {
        try await SurveyFixture.results(context.readerA, enps.id, account: "acme")
      }
      await expectViolation("rounds.from_round") {
        try await SurveyFixture.results(context.readerA, enps.id, from: 3, to: 2)
      }
      _ = await expectStatus(.notFound) { try await SurveyFixture.results(context.readerA, enps.id, round: first.id) }
    }
  }

  /// A round too small to show leaves its comments out of the listing, and every page says so:
  /// without the note, round 2's two comments were missing without a word.
  @Test func commentsSayWhichRoundsTheyLeaveOut() async throws {
    try await DataTestContext.with { context in
      let survey = try await context.clientA.unary(SurveyMethods.createSurvey, SurveyFixture.survey("enps"))
      _ = try await Self.round(context, survey.id, [10, 9, 8, 7, 6, 5], comment: "first")
      _ = try await Self.round(context, survey.id, [3, 4], comment: "second")
      var request = Tally_V1_ListCommentsRequest()
      request.surveyID = survey.id
      request.pageSize = 3
      let first = try await context.readerA.unary(SurveyMethods.listComments, request)
      request.pageToken = first.nextPageToken
      let second = try await context.readerA.unary(SurveyMethods.listComments, request)
      #expect(!first.suppressed && (first.comments + second.comments).allSatisfy { $0.roundNumber == 1 })
      #expect(first.comments.count + second.comments.count == 6)
      for page in [first, second] {
        #expect(page.notes.count == 1 && page.notes[0].hasPrefix("round 2 left out: "), "\(page.notes)")
      }
      request.pageToken = ""
      request.rounds.fromRound = 2
      let alone = try await context.readerA.unary(SurveyMethods.listComments, request)
      #expect(alone.suppressed && alone.comments.isEmpty && alone.notes.count == 1, "\(alone)")
      request.rounds.fromRound = 1
      request.rounds.toRound = 1
      let shown = try await context.readerA.unary(SurveyMethods.listComments, request)
      #expect(shown.notes.isEmpty, "only round 1 is selected")
      // A NUL in either part is no token the server issued (PostgreSQL refused it without a field).
      for forged in ["c2|seed|a\u{0}b", "c2|se\u{0}ed|"] {
        request.pageToken = Data(forged.utf8).base64EncodedString()
        await expectViolation("page_token") { try await context.readerA.unary(SurveyMethods.listComments, request) }
      }
    }
  }

  @Test func commentsAndExportsOfAnonymousSurveysCarryNoIdentity() async throws {
    try await DataTestContext.with { context in
      let survey = try await context.clientA.unary(SurveyMethods.createSurvey, SurveyFixture.survey("enps"))
      let teams = Array(repeating: "big", count: 6) + ["tiny"]
      let roundID = try await Self.round(context, survey.id, [10, 9, 8, 7, 6, 5, 0], teams: teams, comment: "because")
      var request = Tally_V1_ListCommentsRequest()
      request.surveyID = survey.id
      request.pageSize = 4
      let first = try await context.readerA.unary(SurveyMethods.listComments, request)
      request.pageToken = first.nextPageToken
      let second = try await context.readerA.unary(SurveyMethods.listComments, request)
      let texts = (first.comments + second.comments).map(\.text)
      #expect(Set(texts) == Set((0..<7).map { "because \($0)" }) && texts.count == 7)
      #expect((first.comments + second.comments).allSatisfy { $0.contactID.isEmpty && !$0.hasScore })
      request.pageToken = ""
      request.filter.teams = ["tiny"]
      let tiny = try await context.readerA.unary(SurveyMethods.listComments, request)
      #expect(tiny.suppressed && tiny.comments.isEmpty)

      let exported = try await Self.export(context, survey.id)
      #expect(
        exported.count == 7
          && exported.allSatisfy { $0.responseID.isEmpty && $0.contactID.isEmpty && !$0.hasAnsweredAt })
      // "tiny" (one person) is merged into "big": no exported row carries a team that singles anyone out.
      #expect(exported.allSatisfy { $0.segment.team.isEmpty })
      #expect(Set(exported.map { $0.answers[0].number }) == [10, 9, 8, 7, 6, 5, 0])

      // The stored rows: no column or value leads back to a person.
      let (columns, invitationColumns, identities, answers) = try await context.pool.withTransaction(
        tenant: context.tenantA
      ) { connection in
        let columns = try connection.query(
          """
          SELECT column_name, data_type FROM information_schema.columns
          WHERE table_name = 'survey_responses' ORDER BY column_name
          """
        ).rows.map { "\(try $0.require(String.self, "column_name")):\(try $0.require(String.self, "data_type"))" }
        let invitationColumns = try connection.query(
          "SELECT column_name FROM information_schema.columns WHERE table_name = 'survey_invitations' ORDER BY 1"
        ).rows.map { try $0.require(String.self, "column_name") }
        let identities = try connection.query("SELECT count(*) AS n FROM survey_response_identities").rows[0]
          .require(Int.self, "n")
        let answers = try connection.query(
          "SELECT answers::text AS a FROM survey_responses WHERE round_id = $1::uuid", [roundID]
        )
        .rows.map { try $0.require(String.self, "a") }
        return (columns, invitationColumns, identities, answers)
      }
      #expect(
        columns == [
          "answers:jsonb", "department:text", "location:text", "response_id:uuid", "round_id:uuid", "score:smallint",
          "survey_id:uuid", "team:text", "tenant_id:uuid", "tier:smallint",
        ])
      #expect(!invitationColumns.contains { $0.contains("response") } && !invitationColumns.contains("used_at"))
      #expect(identities == 0)
      // Only the answers, keyed by question id: no token, contact or time inside.
      let keys = try answers.map { text in
        try (JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]).map { Set($0.keys) }
      }
      #expect(answers.count == 7 && keys.allSatisfy { $0 == ["reason", "score"] })
      #expect(answers.allSatisfy { !$0.contains("tlys_") })

      // Not even a direct insert can give an anonymous answer an identity.
      let refused = await #expect(throws: (any Error).self) {
        try await context.pool.withTransaction(tenant: context.tenantA) { connection in
          try connection.query(
            """
            INSERT INTO survey_response_identities (tenant_id, response_id, account_id, answered_at)
            SELECT tenant_id, response_id, 'acme', now() FROM survey_responses LIMIT 1
            """)
        }
      }
      #expect(String(reflecting: refused).contains("anonymous"))
    }
  }
}
