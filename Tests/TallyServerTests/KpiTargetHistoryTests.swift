import TallyClient
import TallyProto
import TallyStore
import TallyWire
import Testing

@testable import TallyCore

/// The target accounts of a period come from the tier history (docs/KPIS.md): an account is a
/// target in a period when it had tier 1 to 3 at any time in it, and its first known state holds
/// for all time before. The KPI fixture never changes a tier, so this one does.
@Suite struct KpiTargetHistoryTests {
  @Test func targetsAreTheAccountsOfATargetTierAtSomeTimeInThePeriod() async throws {
    try await DataTestContext.with { context in
      // 1, 2, 4 and 8 contacts: every set of these accounts has a sum of its own.
      let accounts: [(id: String, tier: UInt32, contacts: Int)] = [
        ("always", 2, 1), ("promoted", 1, 2), ("demoted", 0, 4), ("never", 0, 8),
      ]
      for account in accounts {
        _ = try await context.clientA.unary(
          AccountMethods.upsertAccount, Fixture.upsert(Fixture.account(account.id, tier: account.tier)))
        for index in 0..<account.contacts {
          _ = try await context.clientA.unary(
            AccountMethods.upsertContact, Fixture.upsert(Fixture.contact("\(account.id)-\(index)", account: account.id))
          )
        }
      }
      // Upserts wrote each account's current tier as of now; before it, as a CRM import would have
      // left it: promoted was tier 0 until 2026-02-15, demoted tier 1 until 2026-02-01.
      try await context.pool.withTransaction(tenant: context.tenantA) { connection in
        for (account, time, tier) in [
          ("promoted", "2025-06-01", 0), ("promoted", "2026-02-15", 1), ("demoted", "2025-06-01", 1),
          ("demoted", "2026-02-01", 0),
        ] {
          try connection.query(
            """
            INSERT INTO account_history (tenant_id, account_id, changed_at, tier, in_icp)
            VALUES (current_setting('tally.tenant_id')::uuid, $1, $2::date, $3::int, false)
            """, [account, time, Int64(tier)])
        }
      }
      let response = try await context.readerA.unary(
        KpiMethods.getKpis, KpiServiceTests.request(["contacts_per_target_account", "data_completeness"]))
      let kpi = try #require(response.kpis.first { $0.name == "contacts_per_target_account" })
      // The quarter: always, promoted and demoted. The quarter before: always and demoted (its first
      // known tier). January: demoted until February 1; February and March: promoted from the 15th.
      #expect(kpi.current.numerator == 7 && kpi.current.denominator == 3)
      #expect(kpi.previous.numerator == 5 && kpi.previous.denominator == 2)
      #expect(kpi.trend.map(\.numerator) == [5, 3, 3])
      #expect(kpi.trend.map(\.denominator) == [2, 2, 2])
      // No field but the tier is filled, and a target's tier counts as filled even when it is 0
      // today (demoted): it had a target tier in the period, which is what made it a target.
      let completeness = try #require(response.kpis.first { $0.name == "data_completeness" })
      #expect(completeness.current.numerator == 3 && completeness.current.denominator == 15)
      #expect(completeness.trend.map(\.numerator) == [2, 2, 2])
    }
  }

  /// Migration 0011: the window over each account's tier history reads the primary key in order,
  /// tier included, instead of sorting the heap's rows in every statement that names the targets.
  @Test func targetsWindowTheHistoryFromThePrimaryKeyAlone() async throws {
    let (period, filter) = try KpiEngine.singlePeriod("2026-04-01", "2026-07-01", Tally_V1_KpiFilter())
    let plan = try await QueryPlan.explain(
      "WITH \(KpiSQL.periods), \(KpiSQL.targets) SELECT count(*) FROM targets", KpiEngine.parameters([period], filter)
    ).joined(separator: "\n")
    #expect(plan.contains("Index Only Scan using account_history_pkey on account_history"), "\(plan)")
    #expect(!plan.contains("Sort Key: account_history"), "\(plan)")
  }
}
