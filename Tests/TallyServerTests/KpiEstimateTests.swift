import Foundation
import TallyProto
import TallyStore
import TallyTestSupport
import Testing

@testable import TallyCore

/// The planner's estimates and choices for KPI passes, on data with statistics: an estimate
/// hundreds of times too low let it nested-loop a dashboard's 20,000 events with a contact and its
/// 4,000 targets, 5 s where a hash join takes 85 ms (docs/BENCHMARKS.md, session 19).
@Suite struct KpiEstimateTests {
  @Test func contactTypeSetsEstimateThePeriodsPeopleWithinAFactorOfFour() async throws {
    let database = try await TestDatabase.create()
    let owner = try PostgresConnection(conninfo: database.ownerURL)
    defer { owner.close() }
    _ = try owner.query("SELECT ensure_event_partitions('2026-04-01', '2026-07-01')")
    let pool = database.pool()
    defer { pool.close() }
    let tenant = UUID().uuidString.lowercased()
    // 8,000 events 10 minutes apart from April 1 (about 55 days), three of four of a type counted.
    try await pool.withTransaction(tenant: tenant) { connection in
      try connection.execute(
        """
        INSERT INTO events (tenant_id, event_key, occurred_at, type, account_id, contact_id)
        SELECT current_setting('tally.tenant_id')::uuid, 'k' || i, '2026-04-01'::timestamptz + i * interval '10 minutes',
          (ARRAY['email_sent', 'email_opened', 'web_visit', 'ad_impression'])[1 + i % 4], 'a' || i % 50, 'c' || i % 400
        FROM generate_series(0, 7999) i
        """)
    }
    try owner.execute("ANALYZE events")

    // The events the pass keeps (every one has a contact), each a row of the people scan.
    let (period, filter) = try KpiEngine.singlePeriod("2026-04-01", "2026-05-15", Tally_V1_KpiFilter())
    let counts = [
      ContactTypeSets.Count(["email_opened"]), ContactTypeSets.Count(["email_sent"]),
      ContactTypeSets.Count(["web_visit"], targetsOnly: true),
    ]
    let sql = ContactTypeSets.sql(KpiSQL(source: .rollups), counts: counts)
    let (plan, matching) = try await pool.withTransaction(tenant: tenant) { connection in
      let plan = try QueryPlan.lines(sql, KpiEngine.parameters([period], filter), on: connection)
      let matching = try connection.query(
        """
        SELECT count(*)::float8 AS n FROM events WHERE occurred_at >= '2026-04-01' AND occurred_at < '2026-05-15'
          AND type IN ('email_opened', 'email_sent', 'web_visit')
        """
      ).rows[0].require(Double.self, "n")
      return (plan, matching)
    }
    // The scans of the months' partitions, not their indexes' (`on events_2026_04_tenant_…`).
    let scans = plan.filter { $0.range(of: #" on events_\d{4}_\d{2} "#, options: .regularExpression) != nil }
    let estimated = scans.compactMap { line in
      line.range(of: #"rows=\d+"#, options: .regularExpression).flatMap { Double(line[$0].dropFirst(5)) }
    }.reduce(0, +)
    let text = plan.joined(separator: "\n")
    #expect(matching == 4_752, "\(text)")
    #expect(!scans.isEmpty && estimated >= matching / 4, "estimated \(estimated) of \(matching):\n\(text)")
  }

  /// The event-type pass joins every rollup row of its periods to the targets. It must hash the
  /// targets and stream the rows past them: from a MATERIALIZED CTE, which has no statistics, the
  /// planner hashed the rows instead, 742,182 of them on the 10M set (docs/BENCHMARKS.md, session 20).
  @Test func eventTypeTotalsHashTheTargetsNotTheRows() async throws {
    let database = try await TestDatabase.create()
    let pool = database.pool()
    defer { pool.close() }
    let tenant = UUID().uuidString.lowercased()
    try await pool.withTransaction(scope: .operator) { connection in
      try connection.query("INSERT INTO tenants (tenant_id, name, currency) VALUES ($1::uuid, 'T', 'EUR')", [tenant])
    }
    // 40,000 accounts, half of them targets, and 200,000 rollup rows over the period's 44 days: at
    // a tenth of that the materialized CTE's plan hashed the targets too.
    try await pool.withTransaction(tenant: tenant) { connection in
      try connection.execute(
        """
        INSERT INTO accounts (tenant_id, account_id, name, tier)
        SELECT current_setting('tally.tenant_id')::uuid, 'a' || i, 'A' || i, i % 2 FROM generate_series(0, 39999) i;
        INSERT INTO event_rollup_daily (tenant_id, day, type, account_id, campaign_id, asset_id, events, seconds, value)
        SELECT current_setting('tally.tenant_id')::uuid, '2026-04-01'::date + i % 44, 'web_visit', 'a' || i % 40000,
          '', 'x' || i, 1, 0, 0
        FROM generate_series(0, 199999) i
        """)
    }
    let owner = try PostgresConnection(conninfo: database.ownerURL)
    defer { owner.close() }
    try owner.execute("ANALYZE accounts; ANALYZE account_history; ANALYZE event_rollup_daily")

    let (period, filter) = try KpiEngine.singlePeriod("2026-04-01", "2026-05-15", Tally_V1_KpiFilter())
    let sql = EventTypeTotals.sql(KpiSQL(source: .rollups))
    let plan = try await pool.withTransaction(tenant: tenant) { connection in
      try QueryPlan.lines(sql, KpiEngine.parameters([period], filter), on: connection)
    }
    let text = plan.joined(separator: "\n")
    // A left join that hashes its inner side, the targets; `Hash Right Join` hashes the rollup rows.
    let join = plan.firstIndex { $0.contains("Hash Left Join") || $0.contains("Hash Right Join") }
    #expect(join.map { plan[$0].contains("Hash Left Join") } == true, "\(text)")
    #expect(join.map { plan[$0 + 1].contains("t.account_id") } == true, "\(text)")
  }
}
