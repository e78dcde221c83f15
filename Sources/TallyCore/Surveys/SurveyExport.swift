import Foundation
import TallyProto
import TallyStore
import TallyWire

/// ExportResponses: every answer of the shown rounds, a page of rows at a time. A round's order is
/// read once as response ids (16 bytes each), then its rows by id, so that a round of any size costs
/// the server its ids and one page, and the database one sort and an index look-up per row.
extension SurveyService {
  /// Rows per page: a few hundred kilobytes of answers, and few enough round trips.
  static let exportPageSize = 500

  @Sendable func exportResponses(
    _ request: Tally_V1_ExportResponsesRequest, _ context: RequestContext,
    _ writer: ResponseWriter<Tally_V1_ExportedResponse>
  ) async throws {
    let id = try Validation.uuid(request.surveyID, field: "survey_id")
    let selection = try RoundSelectionSpec(request.rounds)
    let now = self.nowMicros
    let (survey, rounds) = try await self.database.transaction(context) { connection in
      let survey = try self.openedSurvey(id, now: now, connection)
      // Answers are counted only where RareAnswers needs them.
      let rounds = try Self.roundData(survey, selection, now: now, countingAnswers: survey.anonymous, connection)
      return (survey, rounds)
    }
    let builder = SurveyResultsBuilder(survey: survey, rounds: rounds, filter: SegmentFilterSpec())
    for round in rounds where round.selected {
      guard case .shown = builder.verdict(round) else { continue }
      let guardian = AnonymityGuard(
        invitations: round.invitations, responses: round.responses, threshold: survey.threshold)
      let withheld =
        survey.anonymous
        ? RareAnswers.withheld(round, survey.questions, shownBy: guardian, threshold: survey.threshold) : []
      let order = try await self.database.transaction(context) { connection in
        try Self.exportOrder(survey, round: round.id, connection)
      }
      for start in stride(from: 0, to: order.count, by: Self.exportPageSize) {
        let page = PostgresArray.literal(
          order[start..<min(start + Self.exportPageSize, order.count)].map { $0.uuidString.lowercased() })
        let rows = try await self.database.transaction(context) { connection in
          try connection.query(
            """
            SELECT x.* FROM unnest($1::uuid[]) WITH ORDINALITY AS p(response_id, position)
            -- Look-ups by primary key per id, whatever the statistics say (LIMIT keeps it a loop).
            CROSS JOIN LATERAL (
              SELECT r.response_id::text AS response_id, r.department, r.team, r.location, r.tier,
                r.answers::text AS answers, i.contact_id, i.account_id, \(Micros.column("i.answered_at"))
              FROM survey_responses r
              LEFT JOIN survey_response_identities i ON i.tenant_id = r.tenant_id AND i.response_id = r.response_id
              WHERE r.response_id = p.response_id AND r.round_id = $2::uuid
              LIMIT 1
            ) x
            ORDER BY p.position
            """, [page, round.id]
          ).rows
        }
        for row in rows {
          var exported = try Self.exported(row, round.number, survey, guardian)
          if !withheld.isEmpty {
            exported.answers.removeAll { withheld.contains($0.questionID) }
            exported.withheldQuestionIds = withheld
          }
          try await writer.send(exported)
        }
      }
    }
  }

  /// The round's response ids in the export's order: anonymous ones shuffled anew for each export,
  /// identified ones by when they were answered.
  static func exportOrder(_ survey: StoredSurvey, round: String, _ connection: PostgresConnection) throws -> [UUID] {
    try connection.query(
      """
      SELECT r.response_id::text AS response_id
      FROM survey_responses r
      LEFT JOIN survey_response_identities i ON i.tenant_id = r.tenant_id AND i.response_id = r.response_id
      WHERE r.survey_id = $1::uuid AND r.round_id = $2::uuid
      ORDER BY \(survey.anonymous ? "random()" : "i.answered_at, r.response_id")
      """, [survey.id, round]
    ).rows.map { row in
      guard let id = UUID(uuidString: try row.require(String.self, "response_id")) else {
        throw RPCError(code: .internalError, message: "a response id is not a UUID")
      }
      return id
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
        // As the survey spells them: answers stored before choices were (a client's look-alike
        // spelling) would otherwise mark their rows, and RareAnswers counts them with the survey's.
        choices.values = (value as? [String] ?? []).map { stored in question.choices.first { $0 == stored } ?? stored }
        answer.choices = choices
      default: answer.text = value as? String ?? ""
      }
      return answer
    }
  }
}
