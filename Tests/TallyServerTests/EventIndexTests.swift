import Foundation
import TallyProto
import TallyStore
import TallyTestSupport
import Testing

@testable import TallyCore

/// KPI queries that read events (migrations 0009 and 0010): the days asked for must be index
/// conditions and prune the other months' partitions, or a large tenant's dashboard reads its
/// whole history, or every tenant's.
@Suite struct EventIndexTests {
  /// The plan of `sql` with `parameters`, on a database with partitions from January to May 2026.
  /// Sequential and bitmap scans are off: the tables are empty, and the question is what the
  /// index scans are bounded by.
  private func plan(_ sql: String, _ parameters: [(any PostgresBindable)?]) async throws -> [String] {
    let database = try TestDatabase.create()
    let owner = try PostgresConnection(conninfo: database.ownerURL)
    defer { owner.close() }
    try owner.query("SELECT ensure_event_partitions('2026-01-01', '2026-06-01')")
    let pool = database.pool()
    defer { pool.close() }
    return try await pool.withTransaction(tenant: UUID().uuidString.lowercased()) { connection in
      try connection.execute("SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off")
      return try connection.query("EXPLAIN " + sql, parameters).rows.map { try $0.require(String.self, "QUERY PLAN") }
    }
  }

  @Test func peopleReadOnlyTheDaysAskedForFromTheTimeIndex() async throws {
    let plan = try await self.plan(
      "SELECT count(DISTINCT contact_id) FROM \(KpiSQL.people(from: "$1::date", to: "$2::date")) c",
      ["2026-04-01", "2026-05-15"])
    let text = plan.joined(separator: "\n")
    let conditions = plan.filter { $0.contains("Index Cond:") }
    #expect(!conditions.isEmpty, "\(text)")
    for condition in conditions {
      #expect(condition.contains("occurred_at >= '2026-04-01 00:00:00+00'"), "\(text)")
      #expect(condition.contains("occurred_at < '2026-05-15 00:00:00+00'"), "\(text)")
    }
    #expect(text.contains("Index Only Scan"), "\(text)")
    #expect(text.contains("events_2026_04") && text.contains("events_2026_05"), "\(text)")
    for month in ["01", "02", "03"] { #expect(!text.contains("events_2026_\(month)"), "\(text)") }
  }

  @Test func repActivityReadsOnlyThePeriodsRepEventsFromItsPartialIndex() async throws {
    let (period, filter) = try KpiEngine.singlePeriod("2026-04-01", "2026-05-15", Tally_V1_KpiFilter())
    let plan = try await self.plan(RepActivity.sql, KpiEngine.parameters([period], filter))
    let text = plan.joined(separator: "\n")
    #expect(text.contains("Index Only Scan") && text.contains("occurred_at_rep_id"), "\(text)")
    let conditions = plan.filter { $0.contains("Index Cond:") }
    #expect(!conditions.isEmpty, "\(text)")
    for condition in conditions {
      #expect(condition.contains("occurred_at >= '2026-04-01 00:00:00+00'"), "\(text)")
      #expect(condition.contains("occurred_at < '2026-05-15 00:00:00+00'"), "\(text)")
    }
    for month in ["01", "02", "03"] { #expect(!text.contains("events_2026_\(month)"), "\(text)") }
  }
}
