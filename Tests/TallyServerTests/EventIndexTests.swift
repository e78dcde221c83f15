import TallyProto
import TallyStore
import Testing

@testable import TallyCore

/// KPI queries that read events (migrations 0009 and 0010): the days asked for must be index
/// conditions and prune the other months' partitions, or a large tenant's dashboard reads its
/// whole history, or every tenant's.
@Suite struct EventIndexTests {
  /// The plan of `sql` with `parameters`, on a database with partitions from January to May 2026.
  private func plan(_ sql: String, _ parameters: [(any PostgresBindable)?]) async throws -> [String] {
    try await QueryPlan.explain(
      sql, parameters, ownerSetup: "SELECT ensure_event_partitions('2026-01-01', '2026-06-01')")
  }

  /// Every index scan of `plan` starts at 2026-04-01 and stops before 2026-05-15, and no partition
  /// of January to March is read; `index` names the index the scans use.
  private func expectOnlyAprilToMidMay(
    _ plan: [String], index: String, sourceLocation: SourceLocation = #_sourceLocation
  ) {
    let text = plan.joined(separator: "\n")
    let conditions = plan.filter { $0.contains("Index Cond:") }
    #expect(
      !conditions.isEmpty && text.contains("Index Only Scan using \(index)"), "\(text)", sourceLocation: sourceLocation)
    for condition in conditions {
      #expect(condition.contains("occurred_at >= '2026-04-01 00:00:00+00'"), "\(text)", sourceLocation: sourceLocation)
      #expect(condition.contains("occurred_at < '2026-05-15 00:00:00+00'"), "\(text)", sourceLocation: sourceLocation)
    }
    for month in ["01", "02", "03"] {
      #expect(!text.contains("events_2026_\(month)"), "\(text)", sourceLocation: sourceLocation)
    }
  }

  @Test func peopleReadOnlyTheDaysAskedForFromTheTimeIndex() async throws {
    let plan = try await self.plan(
      "SELECT count(DISTINCT contact_id) FROM \(KpiSQL.people(from: "$1::date", to: "$2::date")) c",
      ["2026-04-01", "2026-05-15"])
    self.expectOnlyAprilToMidMay(plan, index: "events_2026_04_tenant_id_occurred_at_type_contact_id")
  }

  @Test func repActivityReadsOnlyThePeriodsRepEventsFromItsPartialIndex() async throws {
    let (period, filter) = try KpiEngine.singlePeriod("2026-04-01", "2026-05-15", Tally_V1_KpiFilter())
    let plan = try await self.plan(RepActivity.sql, KpiEngine.parameters([period], filter))
    self.expectOnlyAprilToMidMay(plan, index: "events_2026_04_tenant_id_occurred_at_rep_id")
  }
}
