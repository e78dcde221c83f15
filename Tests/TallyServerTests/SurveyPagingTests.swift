import Foundation
import TallyClient
import TallyProto
import TallyStore
import TallyWire
import Testing

/// ListComments and ExportResponses read a page at a time in the database's order: a round of more
/// answers than a page comes whole, each answer once, in the order the docs promise.
@Suite struct SurveyPagingTests {
  /// Two full export pages and part of a third; thirteen comment pages of 100.
  static let answerCount = 1_234

  /// Stores `answerCount` answers of team "core" in `roundID` as SubmitResponse (or a round's close)
  /// leaves them; answer n scores n % 11 with the comment "comment n", and an identified one was
  /// answered n seconds into 2026.
  static func store(_ context: DataTestContext, survey: String, round: String, identified: Bool) async throws {
    try await context.pool.withTransaction(tenant: context.tenantA) { connection in
      _ = try connection.query(
        """
        INSERT INTO survey_responses (tenant_id, survey_id, round_id, department, team, score, answers)
        SELECT nullif(current_setting('tally.tenant_id'), '')::uuid, $1::uuid, $2::uuid, 'eng', 'core', n % 11,
          jsonb_build_object('score', n % 11, 'reason', 'comment ' || n)
        FROM generate_series(0, $3 - 1) n
        """, [survey, round, Self.answerCount])
      guard identified else { return }
      _ = try connection.query(
        """
        INSERT INTO survey_response_identities (tenant_id, response_id, account_id, answered_at)
        SELECT tenant_id, response_id, 'acme',
          timestamptz '2026-01-01 00:00:00Z' + split_part(answers->>'reason', ' ', 2)::int * interval '1 second'
        FROM survey_responses WHERE round_id = $1::uuid
        """, [round])
    }
  }

  /// Every page of ListComments, following the tokens.
  static func allComments(_ context: DataTestContext, _ survey: String, pageSize: UInt32) async throws
    -> (comments: [Tally_V1_Comment], tokens: [String])
  {
    var request = Tally_V1_ListCommentsRequest()
    (request.surveyID, request.pageSize) = (survey, pageSize)
    var comments: [Tally_V1_Comment] = []
    var tokens: [String] = []
    repeat {
      let page = try await context.readerA.unary(SurveyMethods.listComments, request)
      #expect(page.comments.count <= Int(pageSize))
      comments += page.comments
      request.pageToken = page.nextPageToken
      tokens.append(page.nextPageToken)
    } while !request.pageToken.isEmpty && tokens.count <= Self.answerCount
    return (comments, tokens)
  }

  /// The number in "comment n".
  static func number(_ text: String) -> Int { Int(text.split(separator: " ").last ?? "") ?? -1 }

  @Test func anAnonymousRoundOfManyPagesComesWholeInARandomOrder() async throws {
    try await DataTestContext.with { context in
      let survey = try await context.clientA.unary(SurveyMethods.createSurvey, SurveyFixture.survey("enps"))
      let round = try await SurveyFixture.openRound(context.clientA, survey.id)
      _ = try await SurveyFixture.tokens(
        context.clientA, round.id, UInt32(Self.answerCount), team: "core", department: "eng")
      try await Self.store(context, survey: survey.id, round: round.id, identified: false)
      try await SurveyFixture.closeRound(context.clientA, round.id)

      let all = Array(0..<Self.answerCount)
      var orders: [[Int]] = []
      for _ in 0..<2 {
        let rows = try await SurveyResultsTests.export(context, survey.id)
        let numbers = rows.map { Self.number($0.answers.first { $0.questionID == "reason" }?.text ?? "") }
        #expect(numbers.sorted() == all, "each answer exactly once")
        #expect(rows.allSatisfy { $0.responseID.isEmpty && $0.segment.team == "core" })
        orders.append(numbers)
      }
      #expect(orders[0] != all && orders[0] != orders[1], "random, and random again for each export")

      let (comments, tokens) = try await Self.allComments(context, survey.id, pageSize: 100)
      #expect(comments.map { Self.number($0.text) }.sorted() == all)
      #expect(tokens.count == 13 && tokens.last == "")
      #expect(comments.map { Self.number($0.text) } != all)
      // A page token holds where the listing stands, never a response's id.
      let ids = try await context.pool.withTransaction(tenant: context.tenantA) { connection in
        try connection.query("SELECT response_id::text AS id FROM survey_responses").rows.map {
          try $0.require(String.self, "id")
        }
      }
      let decoded = tokens.filter { !$0.isEmpty }.compactMap { Data(base64Encoded: $0) }.map {
        String(decoding: $0, as: UTF8.self)
      }
      #expect(decoded.count == 12 && ids.count == Self.answerCount)
      #expect(!decoded.contains { token in ids.contains { token.contains($0) } })
    }
  }

  @Test func anIdentifiedRoundOfManyPagesComesWholeInTimeOrder() async throws {
    try await DataTestContext.with { context in
      let survey = try await context.clientA.unary(SurveyMethods.createSurvey, SurveyFixture.survey("nps"))
      let round = try await SurveyFixture.openRound(context.clientA, survey.id)
      try await Self.store(context, survey: survey.id, round: round.id, identified: true)

      let rows = try await SurveyResultsTests.export(context, survey.id)
      let numbers = rows.map { Self.number($0.answers.first { $0.questionID == "reason" }?.text ?? "") }
      #expect(numbers == Array(0..<Self.answerCount), "oldest first")
      #expect(rows.allSatisfy { !$0.responseID.isEmpty && $0.accountID == "acme" && $0.hasAnsweredAt })
      #expect(Set(rows.map(\.responseID)).count == Self.answerCount)

      let (comments, tokens) = try await Self.allComments(context, survey.id, pageSize: 1_000)
      #expect(comments.map { Self.number($0.text) } == Array((0..<Self.answerCount).reversed()), "newest first")
      #expect(comments.allSatisfy { $0.hasScore && Int($0.score) == Self.number($0.text) % 11 })
      #expect(tokens.count == 2)
    }
  }

  /// Answers stored before choices were kept as the survey spells them may hold a client's look-alike
  /// spelling (a Kelvin sign for a K): the export shows the survey's, which marks no one.
  @Test func anExportSpellsChoicesAsTheSurveyDoes() async throws {
    try await DataTestContext.with { context in
      var create = SurveyFixture.pulse()
      create.survey.questions[2].choices = ["Kiosk", "Web"]
      let survey = try await context.clientA.unary(SurveyMethods.createSurvey, create)
      let round = try await SurveyFixture.openRound(context.clientA, survey.id)
      _ = try await SurveyFixture.tokens(context.clientA, round.id, 6, team: "core")
      try await context.pool.withTransaction(tenant: context.tenantA) { connection in
        _ = try connection.query(
          """
          INSERT INTO survey_responses (tenant_id, survey_id, round_id, team, score, answers)
          SELECT nullif(current_setting('tally.tenant_id'), '')::uuid, $1::uuid, $2::uuid, 'core', 7,
            jsonb_build_object('mood', 7, 'tools', 3, 'focus', jsonb_build_array($3::text), 'remote', true)
          FROM generate_series(1, 6)
          """, [survey.id, round.id, "\u{212A}iosk"])
      }
      try await SurveyFixture.closeRound(context.clientA, round.id)
      let rows = try await SurveyResultsTests.export(context, survey.id)
      let focus = rows.compactMap { $0.answers.first { $0.questionID == "focus" }?.choices.values }
      #expect(focus.count == 6 && focus.allSatisfy { $0.map { Array($0.utf8) } == [Array("Kiosk".utf8)] })
    }
  }
}
