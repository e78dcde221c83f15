import Foundation
import TallyClient
import TallyProto
import TallyStore
import TallyTestSupport
import TallyWire
import Testing

@testable import TallyCore

/// How a batch of answers meets what else holds its rounds: a connection lost at its COMMIT, and
/// the opener of sealed answers, which locks rounds by id.
@Suite struct AnswerBatchLockTests {
  /// A batch lost at its COMMIT may be stored: no answer is tried again alone (it would find its
  /// own token used), each gets the unknown outcome.
  @Test func aBatchLostAtItsCommitIsNotRetriedAnswerByAnswer() async throws {
    try await DataTestContext.with { context in
      let tokens = try await context.enpsTokens(3)
      let submissions = try tokens.map(AnswerBatch.Submission.scoreNine)
      // One connection, whose first batch prepares the statements: the second batch's claim then
      // goes in one pipeline with its COMMIT, which the connection is lost under.
      let pool = context.singleConnectionPool()
      defer { pool.close() }
      let database = TenantDatabase(pool: pool)
      let now = { @Sendable in SurveyService.microsSinceEpoch(Date()) }
      let first = await AnswerBatch.store(
        [submissions[2]], tenant: context.tenantA, database: database, key: context.sealingKeys.current, now: now)
      #expect(first.count == 1 && (try? first[0].get()) != nil)
      let appURL = context.appURL
      let outcomes = await AnswerBatch.store(
        Array(submissions.prefix(2)), tenant: context.tenantA, database: database, key: context.sealingKeys.current,
        now: now,
        committing: {
          // The batch's connection is the one idle in its transaction: ended before its COMMIT goes.
          _ = try? PostgresConnection(conninfo: appURL).query(
            """
            SELECT pg_terminate_backend(pid) FROM pg_stat_activity
            WHERE datname = current_database() AND state = 'idle in transaction' AND pid <> pg_backend_pid()
            """)
        })
      #expect(outcomes.count == 2)
      for outcome in outcomes {
        guard case .failure(let error as RPCError) = outcome else {
          Issue.record("an answer of a batch lost at its commit was retried alone: \(outcome)")
          continue
        }
        #expect(error.code == .unavailable, "\(String(reflecting: error))")
      }
      // Here the COMMIT never arrived: both tokens are unused and take their answers.
      for token in tokens.prefix(2) {
        _ = try await SurveyFixture.submit(context.collectorA, token, [SurveyFixture.number("score", 9)])
      }
    }
  }

  /// A batch with tokens of two rounds locks them by round id, as an opener does: an opener that
  /// holds the lower round can still take the higher one, rather than the two waiting for each other.
  @Test func aBatchLocksItsRoundsInTheOrderOpenersDo() async throws {
    try await DataTestContext.with { context in
      var roundIDs: [String] = []
      for title in ["one", "two"] {
        let survey = try await context.clientA.unary(
          SurveyMethods.createSurvey, SurveyFixture.survey("enps", title: title))
        roundIDs.append(try await SurveyFixture.openRound(context.clientA, survey.id).id)
      }
      roundIDs.sort()  // uuid order is the order of their hex text
      // The higher round's tokens first, and a pair whose hashes are in the other order than their
      // rounds: read in the table's order or by token, the higher round's row comes first.
      var rounds: [(id: String, tokens: [String])] = []
      for id in roundIDs.reversed() {
        rounds.insert((id, try await SurveyFixture.tokens(context.clientA, id, 8, team: "core")), at: 0)
      }
      let pairs = rounds[0].tokens.flatMap { low in rounds[1].tokens.map { (low: low, high: $0) } }
      let (low, high) = try #require(pairs.first { SurveyService.hashHex($0.high) < SurveyService.hashHex($0.low) })
      let opener = try PostgresConnection(conninfo: context.appURL)
      try opener.execute("BEGIN")
      try opener.query("SELECT set_config('tally.tenant_id', $1, true)", [context.tenantA])
      let lockRound = "SELECT round_id FROM survey_rounds WHERE round_id = $1::uuid FOR NO KEY UPDATE"
      try opener.query(lockRound, [rounds[0].id])
      let batch = try [high, low].map(AnswerBatch.Submission.scoreNine)
      let storing = Task { [context] in
        await AnswerBatch.store(
          batch, tenant: context.tenantA, database: TenantDatabase(pool: context.pool),
          key: context.sealingKeys.current, now: { SurveyService.microsSinceEpoch(Date()) })
      }
      let waiting = try await waitUntilALockIsAwaited(in: context.appURL)
      #expect(waiting, "the batch never waited for the opener's round")
      // The batch waits for the lower round and holds nothing of the higher one.
      #expect(throws: Never.self) { try opener.query(lockRound + " NOWAIT", [rounds[1].id]) }
      try opener.execute("COMMIT")
      for outcome in await storing.value {
        #expect((try? outcome.get()) != nil, "\(outcome)")
      }
    }
  }
}

extension DataTestContext {
  /// `count` tokens of a new round of an anonymous eNPS survey of tenant A.
  func enpsTokens(_ count: UInt32) async throws -> [String] {
    let survey = try await self.clientA.unary(SurveyMethods.createSurvey, SurveyFixture.survey("enps"))
    let round = try await SurveyFixture.openRound(self.clientA, survey.id)
    return try await SurveyFixture.tokens(self.clientA, round.id, count, team: "core")
  }
}

extension AnswerBatch.Submission {
  /// An eNPS answer of 9 with `token`, by a tenant key.
  static func scoreNine(_ token: String) throws -> Self {
    Self(hash: try SurveyService.tokenHash(token), answers: [SurveyFixture.number("score", 9)], byOperator: false)
  }
}
