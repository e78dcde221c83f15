import Foundation
import SwiftProtobuf
import TallyClient
import TallyProto
import TallyStore
import TallyWire
import Testing

@testable import TallyCore

/// Anonymous answers wait sealed until their round closes, then are stored together in random
/// order (docs/SURVEYS.md, "Sealed until the round closes"), checked against the stored rows.
@Suite struct SealedAnswersTests {
  /// Answers `scores` with one token each (team "core"), with a comment "secret N" each.
  static func answer(
    _ context: DataTestContext, round: String, _ scores: [Int32], collector: TallyClient? = nil,
    client: TallyClient? = nil
  ) async throws {
    let tokens = try await SurveyFixture.tokens(client ?? context.clientA, round, UInt32(scores.count), team: "core")
    for (index, (token, score)) in zip(tokens, scores).enumerated() {
      try await SurveyFixture.submit(
        collector ?? context.collectorA, token,
        [SurveyFixture.number("score", score), SurveyFixture.text("reason", "secret \(index)")])
    }
  }

  /// Opens a round that closes `seconds` after the survey clock's now.
  static func openRound(_ client: TallyClient, _ surveyID: String, closingIn seconds: TimeInterval, _ clock: TestClock)
    async throws -> Tally_V1_Round
  {
    var request = Tally_V1_OpenRoundRequest()
    request.surveyID = surveyID
    request.closesAt = Google_Protobuf_Timestamp(date: clock.now.addingTimeInterval(seconds))
    return try await client.unary(SurveyMethods.openRound, request)
  }

  /// A new eNPS survey of tenant A (or B) whose round opened ten minutes ago, got `scores`, and
  /// closed nine minutes ago: its answers are still sealed, as nothing has read the survey since.
  static func pastRound(_ context: DataTestContext, _ scores: [Int32], ofTenantB: Bool = false) async throws
    -> (survey: Tally_V1_Survey, round: Tally_V1_Round)
  {
    let (client, collector) = ofTenantB ? (context.clientB, context.collectorB) : (context.clientA, context.collectorA)
    context.clock.advance(by: -600)
    let survey = try await client.unary(SurveyMethods.createSurvey, SurveyFixture.survey("enps"))
    let round = try await Self.openRound(client, survey.id, closingIn: 60, context.clock)
    try await Self.answer(context, round: round.id, scores, collector: collector, client: client)
    context.clock.advance(by: 600)
    return (survey, round)
  }

  /// Flips one byte of one of the tenant's sealed answers (the server role may delete and insert them).
  static func changeOneSealedByte(_ context: DataTestContext, tenant: String) async throws {
    try await context.pool.withTransaction(tenant: tenant) { connection in
      try connection.query(
        """
        WITH one AS (
          DELETE FROM survey_sealed_answers WHERE ctid = (SELECT min(ctid) FROM survey_sealed_answers)
          RETURNING tenant_id, round_id, key_id, sealed
        )
        INSERT INTO survey_sealed_answers (tenant_id, round_id, key_id, sealed)
        SELECT tenant_id, round_id, key_id, set_byte(sealed, 40, get_byte(sealed, 40) # 1) FROM one
        """)
    }
  }

  static func count(_ context: DataTestContext, _ tenant: String, _ sql: String, _ parameters: [String] = [])
    async throws -> [String]
  {
    try await context.pool.withTransaction(tenant: tenant) { connection in
      try connection.query(sql, parameters).rows.map { try $0.require(String.self, "v") }
    }
  }

  @Test func anonymousAnswersWaitSealedAndAreStoredTogetherAtTheClose() async throws {
    try await DataTestContext.with { context in
      let survey = try await context.clientA.unary(SurveyMethods.createSurvey, SurveyFixture.survey("enps"))
      let round = try await SurveyFixture.openRound(context.clientA, survey.id)
      try await Self.answer(context, round: round.id, [10, 9, 9, 8, 3, 0, 10, 9, 9, 8, 3, 0])
      let long = String(repeating: "long ", count: 400)
      try await SurveyFixture.submit(
        context.collectorA, try await SurveyFixture.tokens(context.clientA, round.id, 1, team: "core")[0],
        [SurveyFixture.number("score", 5), SurveyFixture.text("reason", long)])

      // While the round is open: no response row, thirteen sealed ones of one size (the one with a
      // 2,000-character comment too), nothing readable.
      let a = context.tenantA
      #expect(try await Self.count(context, a, "SELECT count(*)::text AS v FROM survey_responses") == ["0"])
      #expect(
        try await Self.count(
          context, a,
          """
          SELECT count(*)::text || ' ' || octet_length(sealed) || ' ' || key_id AS v FROM survey_sealed_answers
          WHERE position(convert_to('secret', 'UTF8') IN sealed) = 0 GROUP BY octet_length(sealed), key_id
          """) == ["13 2140 \(context.sealingKeys.current.fingerprint)"])
      let claims = Set(
        try await Self.count(context, a, "SELECT xmin::text AS v FROM survey_invitations WHERE used"))
      #expect(claims.count >= 1)
      // Answered, even though nothing is in survey_responses yet: the questions can no longer change.
      var update = Tally_V1_UpdateSurveyRequest()
      update.survey = survey
      _ = await expectStatus(.failedPrecondition) {
        try await context.clientA.unary(SurveyMethods.updateSurvey, update)
      }

      try await SurveyFixture.closeRound(context.clientA, round.id)
      // Stored by one transaction that claimed nothing: no answer shares a transaction id with a claim.
      let stored = try await Self.count(context, a, "SELECT DISTINCT xmin::text AS v FROM survey_responses")
      #expect(stored.count == 1 && claims.isDisjoint(with: stored))
      #expect(try await Self.count(context, a, "SELECT count(*)::text AS v FROM survey_sealed_answers") == ["0"])
      // Nor does their order on disk follow the answers' (1 chance in 12! that a shuffle keeps it).
      let order = try await Self.count(
        context, a,
        "SELECT answers->>'reason' AS v FROM survey_responses WHERE answers->>'reason' LIKE 'secret %' ORDER BY ctid")
      #expect(Set(order).count == 12 && order != (0..<12).map { "secret \($0)" })
      let results = try await SurveyFixture.results(context.readerA, survey.id)
      #expect(results.overall.responses == 13 && results.overall.promoters == 6 && results.overall.detractors == 5)
      let exported = try await SurveyResultsTests.export(context, survey.id)
      #expect(Set(exported.map { $0.answers[1].text }) == Set((0..<12).map { "secret \($0)" } + [long]))
    }
  }

  /// The once-a-minute opener serves every tenant even when one tenant's transaction fails (here a
  /// trigger refuses that tenant's rounds): the one it meets first does not hold up the rest.
  @Test func aTenantWhoseOpeningFailsDoesNotHoldUpTheOthers() async throws {
    try await DataTestContext.with { context in
      _ = try await Self.pastRound(context, [10, 10, 10, 10, 0])
      _ = try await Self.pastRound(context, [0, 0, 0, 0, 0], ofTenantB: true)
      let order = try await context.pool.withTransaction(tenant: nil) { connection in
        try connection.query("SELECT tenant_id::text AS t FROM tenants_with_sealed_answers_due(now())").rows
          .map { try $0.require(String.self, "t") }
      }
      try #require(order.count == 2)
      let (failing, served) = (order[0], order[1])
      try PostgresConnection(conninfo: context.ownerURL).execute(
        """
        CREATE FUNCTION refuse_in_test() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'refused by a test'; END $$;
        CREATE TRIGGER refuse_in_test BEFORE UPDATE ON survey_rounds FOR EACH ROW
          WHEN (NEW.tenant_id = '\(failing)'::uuid) EXECUTE FUNCTION refuse_in_test();
        """)
      let opener = SealedRoundOpener(pool: context.pool, keys: context.sealingKeys)
      await #expect(throws: (any Error).self) { try await opener.openClosedRounds(now: Date()) }
      let sealed = "SELECT count(*)::text AS v FROM survey_sealed_answers"
      #expect(try await Self.count(context, served, sealed) == ["0"], "the tenant after the failing one stayed sealed")
      #expect(try await Self.count(context, failing, sealed) == ["5"])
    }
  }

  @Test func aRoundPastItsClosingTimeOpensAtTheNextReadOfItsTenantOrWithinAMinute() async throws {
    try await DataTestContext.with { context in
      // Rounds opened ten minutes ago that closed after one: the survey clock runs back, then on.
      context.clock.advance(by: -600)
      let read = try await context.clientA.unary(SurveyMethods.createSurvey, SurveyFixture.survey("enps"))
      let kpiOnly = try await context.clientA.unary(SurveyMethods.createSurvey, SurveyFixture.survey("enps"))
      let other = try await context.clientB.unary(SurveyMethods.createSurvey, SurveyFixture.survey("enps"))
      for survey in [read, kpiOnly] {
        let round = try await Self.openRound(context.clientA, survey.id, closingIn: 60, context.clock)
        try await Self.answer(context, round: round.id, [10, 10, 10, 10, 0])
      }
      let round = try await Self.openRound(context.clientB, other.id, closingIn: 60, context.clock)
      try await Self.answer(
        context, round: round.id, [0, 0, 0, 0, 0], collector: context.collectorB, client: context.clientB)
      context.clock.advance(by: 600)

      // The survey KPI counts a closed anonymous round only once its answers are opened.
      func enps() async throws -> UInt64 {
        var request = KpiServiceTests.request(["enps"], bucket: "")
        let today = CivilDay(Date())
        request.from = CivilDay(dayNumber: today.dayNumber - 1).description
        request.to = CivilDay(dayNumber: today.dayNumber + 1).description
        return UInt64(try await context.readerA.unary(KpiMethods.getKpis, request).kpis[0].current.denominator)
      }
      #expect(try await enps() == 0)
      // A read of the survey opens its closed rounds first.
      #expect(try await SurveyFixture.results(context.readerA, read.id).overall.responses == 5)
      #expect(try await enps() == 5)
      // Tenant B's ListSurveys opens every closed round of B's, and nothing of A's.
      _ = try await context.clientB.unary(SurveyMethods.listSurveys, Tally_V1_ListSurveysRequest())
      let sealed = "SELECT count(*)::text AS v FROM survey_sealed_answers"
      #expect(try await Self.count(context, context.tenantB, sealed) == ["0"])
      #expect(try await Self.count(context, context.tenantA, sealed) == ["5"])
      // The once-a-minute opener takes the rest, of every tenant, once.
      let opener = SealedRoundOpener(pool: context.pool, keys: context.sealingKeys)
      #expect(try await opener.openClosedRounds(now: Date()).answers == 5)
      #expect(try await opener.openClosedRounds(now: Date()).answers == 0)
      #expect(try await enps() == 10)
      let b = try await SurveyFixture.results(context.clientB, other.id)
      #expect(b.overall.responses == 5 && b.overall.detractors == 5)
    }
  }

  @Test func concurrentOpenersOpenEachAnswerOnce() async throws {
    try await DataTestContext.with { context in
      let (survey, _) = try await Self.pastRound(context, (0..<40).map { Int32($0 % 11) })
      // The pool's four connections open at once, by survey and tenant-wide, as reads and the timer do.
      let now = SurveyService.microsSinceEpoch(Date())
      let opened = try await withThrowingTaskGroup(of: Int.self) { group in
        for index in 0..<8 {
          group.addTask {
            try await context.pool.withTransaction(tenant: context.tenantA) { connection in
              try SurveyService.openClosedRounds(
                survey: index.isMultiple(of: 2) ? survey.id : nil, now: now, keys: context.sealingKeys, connection)
            }
          }
        }
        return try await group.reduce(into: [Int]()) { $0.append($1) }
      }
      #expect(opened.reduce(0, +) == 40 && opened.filter { $0 > 0 } == [40])
      #expect(
        try await Self.count(context, context.tenantA, "SELECT count(*)::text AS v FROM survey_responses") == ["40"])
    }
  }

  @Test func answersSealedWithAKeyTheServerLacksStaySealedAndSaySo() async throws {
    try await DataTestContext.with { context in
      let (survey, round) = try await Self.pastRound(context, [10, 9, 8, 7, 6])

      let sealing = context.sealingKeys.current
      let replaced = AnswerSealingKeys(current: .random())
      let refused = await #expect(throws: RPCError.self) {
        try await context.pool.withTransaction(tenant: context.tenantA) { connection in
          try SurveyService.openClosedRounds(
            survey: nil, now: SurveyService.microsSinceEpoch(Date()), keys: replaced, connection)
        }
      }
      #expect(refused?.code == .failedPrecondition)
      #expect(
        refused?.message
          == "the answers of round \(round.id) were sealed with the answer-sealing key \(sealing.fingerprint), which"
          + " this server does not have (its keys: \(replaced.current.fingerprint) (sealing)): give tallyd that key, as"
          + " answer_sealing_key_file or in previous_answer_sealing_key_files (docs/SURVEYS.md)")
      // The timer's opener reports the round and goes on; the answers stay sealed.
      let opened = try await SealedRoundOpener(pool: context.pool, keys: replaced).openClosedRounds(now: Date())
      #expect(opened.answers == 0 && opened.unopened.map(\.round.roundID) == [round.id])
      #expect(opened.unopened.map(\.round.error.code) == [.failedPrecondition])
      let sealed = "SELECT count(*)::text AS v FROM survey_sealed_answers"
      #expect(try await Self.count(context, context.tenantA, sealed) == ["5"])

      // Nothing was lost: a server whose new key replaced the old one, kept as a previous key, opens all five.
      let rotated = SealedRoundOpener(
        pool: context.pool, keys: AnswerSealingKeys(current: .random(), previous: [sealing]))
      #expect(try await rotated.openClosedRounds(now: Date()).answers == 5)
      #expect(try await Self.count(context, context.tenantA, sealed) == ["0"])
      #expect(try await SurveyFixture.results(context.readerA, survey.id).overall.responses == 5)
    }
  }

  @Test func aChangedSealedAnswerIsDataLossAndNothingIsOpened() async throws {
    try await DataTestContext.with { context in
      let (survey, round) = try await Self.pastRound(context, [10, 9, 8, 7, 6])
      try await Self.changeOneSealedByte(context, tenant: context.tenantA)
      let refused = await expectStatus(.dataLoss) { try await SurveyFixture.results(context.readerA, survey.id) }
      #expect(refused?.message == "a sealed answer of round \(round.id) does not open with its key: it was changed")
      // Calls that show no answers still work: the survey, the tenant's list, its rounds.
      var get = Tally_V1_GetSurveyRequest()
      get.id = survey.id
      #expect(try await context.readerA.unary(SurveyMethods.getSurvey, get).responseCount == 0)
      _ = try await context.readerA.unary(SurveyMethods.listSurveys, Tally_V1_ListSurveysRequest())
      let sealed = "SELECT count(*)::text AS v FROM survey_sealed_answers"
      #expect(try await Self.count(context, context.tenantA, sealed) == ["5"])
      #expect(
        try await Self.count(context, context.tenantA, "SELECT count(*)::text AS v FROM survey_responses") == ["0"])
    }
  }

  @Test func aClaimThatComesAfterItsRoundWasOpenedIsRefused() async throws {
    try await DataTestContext.with { context in
      context.clock.advance(by: -600)
      let survey = try await context.clientA.unary(SurveyMethods.createSurvey, SurveyFixture.survey("enps"))
      let round = try await Self.openRound(context.clientA, survey.id, closingIn: 60, context.clock)
      let late = try await SurveyFixture.tokens(context.clientA, round.id, 1, team: "core")[0]
      try await Self.answer(context, round: round.id, [10, 9, 8, 7, 6])
      context.clock.advance(by: 600)
      #expect(try await SurveyFixture.results(context.readerA, survey.id).overall.responses == 5)
      // A submit whose clock still saw the round open, as one that checked it before the opening
      // and claimed after: refused, and nothing is sealed into the opened round.
      context.clock.advance(by: -600)
      let refused = await expectStatus(.notFound) {
        try await SurveyFixture.submit(context.collectorA, late, [SurveyFixture.number("score", 0)])
      }
      #expect(refused?.message == "this survey round is closed: its tokens have expired")
      context.clock.advance(by: 600)
      #expect(
        try await Self.count(context, context.tenantA, "SELECT count(*)::text AS v FROM survey_sealed_answers") == ["0"]
      )
      #expect(
        try await Self.count(context, context.tenantA, "SELECT count(*)::text AS v FROM survey_invitations WHERE used")
          == ["5"])
      #expect(try await SurveyFixture.results(context.readerA, survey.id).overall.responses == 5)
    }
  }

  /// Invitations issued by a call whose clock still saw the round open, after a read opened it,
  /// would change the groups its results were read with: refused, and none stored.
  @Test func invitationsThatComeAfterTheirRoundWasOpenedAreRefused() async throws {
    try await DataTestContext.with { context in
      let (survey, round) = try await Self.pastRound(context, [10, 9, 8, 7, 6])
      #expect(try await SurveyFixture.results(context.readerA, survey.id).overall.responses == 5)
      context.clock.advance(by: -600)
      let refused = await expectStatus(.failedPrecondition) {
        try await SurveyFixture.tokens(context.clientA, round.id, 4, team: "core")
      }
      #expect(refused?.message == "round 1 is closed: it takes no invitations")
      context.clock.advance(by: 600)
      #expect(
        try await Self.count(context, context.tenantA, "SELECT count(*)::text AS v FROM survey_invitations") == ["5"])
    }
  }

  @Test func everyReadOfASurveyOpensItsClosedRounds() async throws {
    try await DataTestContext.with { context in
      func sealed(_ survey: String) async throws -> [String] {
        try await Self.count(
          context, context.tenantA,
          """
          SELECT count(*)::text AS v FROM survey_sealed_answers a JOIN survey_rounds r USING (tenant_id, round_id)
          WHERE r.survey_id = $1::uuid
          """, [survey])
      }
      let reads: [(String, @Sendable (String) async throws -> Void)] = [
        (
          "GetSurvey",
          { id in
            var request = Tally_V1_GetSurveyRequest()
            request.id = id
            _ = try await context.readerA.unary(SurveyMethods.getSurvey, request)
          }
        ),
        (
          "ListRounds",
          { id in
            var request = Tally_V1_ListRoundsRequest()
            request.surveyID = id
            _ = try await context.readerA.unary(SurveyMethods.listRounds, request)
          }
        ),
        (
          "ListComments",
          { id in
            var request = Tally_V1_ListCommentsRequest()
            request.surveyID = id
            _ = try await context.readerA.unary(SurveyMethods.listComments, request)
          }
        ),
        ("ExportResponses", { id in _ = try await SurveyResultsTests.export(context, id) }),
        (
          "ArchiveSurvey",
          { id in
            var request = Tally_V1_ArchiveSurveyRequest()
            request.id = id
            _ = try await context.clientA.unary(SurveyMethods.archiveSurvey, request)
          }
        ),
      ]
      for (name, read) in reads {
        let (survey, _) = try await Self.pastRound(context, [10, 9, 8, 7, 6])
        #expect(try await sealed(survey.id) == ["5"], "\(name)")
        try await read(survey.id)
        #expect(try await sealed(survey.id) == ["0"], "\(name)")
      }
    }
  }

  @Test func theTimerOpensOtherTenantsPastARoundThatDoesNotOpen() async throws {
    try await DataTestContext.with { context in
      let (_, bad) = try await Self.pastRound(context, [10, 9, 8, 7, 6])
      context.clock.advance(by: -600)
      let other = try await context.clientB.unary(SurveyMethods.createSurvey, SurveyFixture.survey("enps"))
      let round = try await Self.openRound(context.clientB, other.id, closingIn: 60, context.clock)
      try await Self.answer(
        context, round: round.id, [0, 0, 0, 0, 0], collector: context.collectorB, client: context.clientB)
      context.clock.advance(by: 600)
      try await Self.changeOneSealedByte(context, tenant: context.tenantA)

      let opened = try await SealedRoundOpener(pool: context.pool, keys: context.sealingKeys)
        .openClosedRounds(now: Date())
      #expect(opened.answers == 5)
      #expect(
        opened.unopened.map { "\($0.tenant) \($0.round.roundID) \($0.round.error.code)" } == [
          "\(context.tenantA) \(bad.id) \(RPCError.Code.dataLoss)"
        ])
      #expect(try await SurveyFixture.results(context.clientB, other.id).overall.detractors == 5)
      let sealed = "SELECT count(*)::text AS v FROM survey_sealed_answers"
      #expect(try await Self.count(context, context.tenantA, sealed) == ["5"])
    }
  }
}
