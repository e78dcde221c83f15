import Foundation
import TallyStore
import Testing

@testable import TallyCore

/// A batch's statements are planned once per connection, not again for every batch: under
/// `plan_cache_mode = auto` PostgreSQL may keep planning them, a third of its CPU per answer
/// (docs/BENCHMARKS.md, "Session 44: submit's batch planned once").
@Suite struct AnswerBatchPlanTests {
  @Test func everyBatchRunsTheGenericPlans() async throws {
    try await DataTestContext.with { context in
      // One connection, so that its prepared statements are the ones the batches ran.
      let pool = context.singleConnectionPool()
      defer { pool.close() }
      let database = TenantDatabase(pool: pool)
      let now = { @Sendable in SurveyService.microsSinceEpoch(Date()) }
      for submission in try await context.enpsTokens(8).map(AnswerBatch.Submission.scoreNine) {
        let outcomes = await AnswerBatch.store(
          [submission], tenant: context.tenantA, database: database, key: context.sealingKeys.current, now: now)
        #expect(outcomes.count == 1 && (try? outcomes[0].get()) != nil)
      }
      let plans = try await pool.withTransaction(scope: .tenant(context.tenantA)) { connection in
        try connection.query(
          """
          SELECT CASE WHEN statement LIKE 'WITH claimed%' THEN 'claims' ELSE 'invitations' END AS statement,
            generic_plans, custom_plans
          FROM pg_prepared_statements
          WHERE statement LIKE 'WITH claimed AS%' OR statement LIKE 'WITH i AS MATERIALIZED%'
          ORDER BY statement
          """
        ).rows.map {
          "\(try $0.require(String.self, "statement")): \(try $0.require(Int.self, "generic_plans")) generic, "
            + "\(try $0.require(Int.self, "custom_plans")) custom"
        }
      }
      #expect(plans == ["claims: 8 generic, 0 custom", "invitations: 8 generic, 0 custom"])
    }
  }
}
