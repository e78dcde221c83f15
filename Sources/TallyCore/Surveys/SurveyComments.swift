import Crypto
import Foundation
import TallyProto
import TallyStore
import TallyWire

/// ListComments and ExportResponses: answers one by one, under the same anonymity rules as results.
extension SurveyService {
  @Sendable func listComments(_ request: Tally_V1_ListCommentsRequest, _ context: RequestContext) async throws
    -> Tally_V1_ListCommentsResponse
  {
    let id = try Validation.uuid(request.surveyID, field: "survey_id")
    let selection = try RoundSelectionSpec(request.rounds)
    let filter = try Self.segmentFilter(request.filter)
    let pageSize = try Validation.pageSize(request.pageSize)
    let (seed, offset) = try CommentPageToken.decode(request.pageToken)
    let now = self.nowMicros
    return try await self.database.transaction(context) { connection in
      let survey = try self.openedSurvey(id, now: now, connection)
      let textQuestions = survey.questions.filter { $0.type == "text" }.map(\.id)
      if !request.questionID.isEmpty, !textQuestions.contains(request.questionID) {
        throw RPCError.invalidArgument(
          field: "question_id", "must be a text question of the survey (\(textQuestions.joined(separator: ", ")))")
      }
      if !request.filter.accountID.isEmpty, survey.anonymous {
        throw RPCError.invalidArgument(
          field: "filter.account_id", "only identified NPS surveys have answers by account; this one is anonymous")
      }
      let questions = request.questionID.isEmpty ? textQuestions : [request.questionID]
      let rounds = try Self.roundData(survey, selection, now: now, connection)
      let builder = SurveyResultsBuilder(survey: survey, rounds: rounds, filter: filter)
      var allowed: [String: (number: Int, segments: Set<SegmentKey>)] = [:]
      var response = Tally_V1_ListCommentsResponse()
      for round in rounds where round.selected {
        switch builder.verdict(round) {
        case .shown(let segments): allowed[round.id] = (round.number, segments)
        case .suppressed(let reason): (response.suppressed, response.suppressedReason) = (true, reason)
        }
      }
      if !allowed.isEmpty { (response.suppressed, response.suppressedReason) = (false, "") }
      guard !allowed.isEmpty else { return response }
      let accountFilter = nonEmpty(request.filter.accountID)
      var comments: [(key: String, comment: Tally_V1_Comment)] = []
      for row in try connection.query(
        """
        SELECT r.response_id::text AS response_id, r.round_id::text AS round_id, r.department, r.team, r.location,
          r.tier, r.score, q.key AS question, q.value #>> '{}' AS text, i.contact_id, i.account_id,
          \(Micros.column("i.answered_at"))
        FROM survey_responses r
        CROSS JOIN LATERAL jsonb_each(r.answers) q
        LEFT JOIN survey_response_identities i ON i.tenant_id = r.tenant_id AND i.response_id = r.response_id
        WHERE r.survey_id = $1::uuid AND q.key = ANY($2::text[]) AND jsonb_typeof(q.value) = 'string'
          AND ($3::text IS NULL OR i.account_id = $3)
        """, [id, PostgresArray.literal(questions), accountFilter]
      ).rows {
        guard let round = allowed[try row.require(String.self, "round_id")],
          round.segments.contains(try Self.segmentKey(row))
        else { continue }
        var comment = Tally_V1_Comment()
        comment.questionID = try row.require(String.self, "question")
        comment.text = try row.require(String.self, "text")
        comment.roundNumber = UInt32(round.number)
        let responseID = try row.require(String.self, "response_id")
        let order: String
        if survey.anonymous {
          order = Self.hashHex(seed + responseID + comment.questionID)
        } else {
          comment.contactID = try row.decode(String.self, "contact_id") ?? ""
          if let score = try row.decode(Int.self, "score") { comment.score = UInt32(score) }
          // Newest first: invert the time so the ascending sort below puts it first.
          let answered = try row.decode(Int64.self, "answered_at") ?? 0
          order = String(format: "%020lld", Int64.max - answered) + responseID + comment.questionID
        }
        comments.append((order, comment))
      }
      comments.sort { $0.key < $1.key }
      response.comments = comments.dropFirst(offset).prefix(pageSize).map(\.comment)
      if comments.count > offset + pageSize {
        response.nextPageToken = CommentPageToken.encode(seed: seed, offset: offset + pageSize)
      }
      return response
    }
  }

  @Sendable func exportResponses(
    _ request: Tally_V1_ExportResponsesRequest, _ context: RequestContext,
    _ writer: ResponseWriter<Tally_V1_ExportedResponse>
  ) async throws {
    let id = try Validation.uuid(request.surveyID, field: "survey_id")
    let selection = try RoundSelectionSpec(request.rounds)
    let now = self.nowMicros
    let (survey, rounds) = try await self.database.transaction(context) { connection in
      let survey = try self.openedSurvey(id, now: now, connection)
      return (survey, try Self.roundData(survey, selection, now: now, connection))
    }
    let builder = SurveyResultsBuilder(survey: survey, rounds: rounds, filter: SegmentFilterSpec())
    for round in rounds where round.selected {
      guard case .shown = builder.verdict(round) else { continue }
      let guardian = AnonymityGuard(
        invitations: round.invitations, responses: round.responses, threshold: survey.threshold)
      let rows = try await self.database.transaction(context) { connection in
        try connection.query(
          """
          SELECT r.response_id::text AS response_id, r.department, r.team, r.location, r.tier, r.answers::text AS answers,
            i.contact_id, i.account_id, \(Micros.column("i.answered_at"))
          FROM survey_responses r
          LEFT JOIN survey_response_identities i ON i.tenant_id = r.tenant_id AND i.response_id = r.response_id
          WHERE r.survey_id = $1::uuid AND r.round_id = $2::uuid
          ORDER BY \(survey.anonymous ? "random()" : "i.answered_at, r.response_id")
          """, [id, round.id]
        ).rows
      }
      var exported = try rows.map { try Self.exported($0, round.number, survey, guardian) }
      if survey.anonymous {
        RareAnswers.withhold(from: &exported, survey.questions, threshold: survey.threshold)
      }
      for response in exported { try await writer.send(response) }
    }
  }

  static func exported(_ row: PostgresRow, _ round: Int, _ survey: StoredSurvey, _ guardian: AnonymityGuard) throws
    -> Tally_V1_ExportedResponse
  {
    var exported = Tally_V1_ExportedResponse()
    exported.roundNumber = UInt32(round)
    exported.answers = try StoredAnswers.decode(try row.require(String.self, "answers"), survey.questions)
    let key = try Self.segmentKey(row)
    if guardian.segmentShown(key) {
      exported.segment.department = key.department ?? ""
      exported.segment.team = key.team ?? ""
      exported.segment.location = key.location ?? ""
      if let tier = key.tier { exported.tier = UInt32(tier) }
    }
    guard !survey.anonymous else { return exported }
    exported.responseID = try row.require(String.self, "response_id")
    exported.contactID = try row.decode(String.self, "contact_id") ?? ""
    exported.accountID = try row.decode(String.self, "account_id") ?? ""
    if let answered = try row.decode(Int64.self, "answered_at") { exported.answeredAt = Micros.timestamp(answered) }
    return exported
  }
}

/// Stored answers (jsonb) back into Answer messages, in question order.
enum StoredAnswers {
  static func decode(_ json: String, _ questions: [SurveyQuestion]) throws -> [Tally_V1_Answer] {
    let object =
      (try JSONSerialization.jsonObject(with: Data(json.utf8), options: [.fragmentsAllowed])) as? [String: Any] ?? [:]
    return questions.compactMap { question in
      guard let value = object[question.id] else { return nil }
      var answer = Tally_V1_Answer()
      answer.questionID = question.id
      switch question.type {
      case "nps", "rating": answer.number = Int32((value as? NSNumber)?.intValue ?? 0)
      case "yes_no": answer.yes = (value as? NSNumber)?.boolValue ?? false
      case "single_choice", "multi_choice":
        var choices = Tally_V1_Choices()
        choices.values = value as? [String] ?? []
        answer.choices = choices
      default: answer.text = value as? String ?? ""
      }
      return answer
    }
  }
}

/// ListComments pages: a random seed fixed for one listing, and how many comments came before.
enum CommentPageToken {
  static func encode(seed: String, offset: Int) -> String {
    Data("c1|\(seed)|\(offset)".utf8).base64EncodedString()
  }

  static func decode(_ token: String) throws -> (seed: String, offset: Int) {
    guard !token.isEmpty else { return (UUID().uuidString, 0) }
    guard let data = Data(base64Encoded: token), let text = String(data: data, encoding: .utf8) else {
      throw RPCError.invalidArgument(field: "page_token", "is not a token this server issued; start without one")
    }
    let parts = text.split(separator: "|")
    // Bounded, so that adding a page to a made-up offset cannot overflow, and a made-up seed of
    // megabytes is not hashed once per comment (the server's seeds are UUIDs).
    guard parts.count == 3, parts[0] == "c1", parts[1].utf8.count <= 36, let offset = Int(parts[2]),
      (0...Int(Int32.max)).contains(offset)
    else {
      throw RPCError.invalidArgument(field: "page_token", "is not a token this server issued; start without one")
    }
    return (String(parts[1]), offset)
  }
}
