import Foundation
import TallyStore
import TallyTestSupport
import Testing

@testable import TallyCore

/// The unique-people KPIs read events through the events' time index (migration 0009): the days
/// asked for must be index conditions and prune the other months' partitions, or a large tenant's
/// people pass reads its whole history.
@Suite struct PeopleIndexTests {
  @Test func peopleReadOnlyTheDaysAskedForFromTheTimeIndex() async throws {
    let database = try TestDatabase.create()
    let owner = try PostgresConnection(conninfo: database.ownerURL)
    defer { owner.close() }
    try owner.query("SELECT ensure_event_partitions('2026-01-01', '2026-06-01')")
    let tenant = UUID().uuidString.lowercased()
    let pool = database.pool()
    defer { pool.close() }
    let plan = try await pool.withTransaction(tenant: tenant) { connection in
      try connection.execute("SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off")
      return try connection.query(
        "EXPLAIN SELECT count(DISTINCT contact_id) FROM \(KpiSQL.people(from: "$1::date", to: "$2::date")) c",
        ["2026-04-01", "2026-05-15"]
      ).rows.map { try $0.require(String.self, "QUERY PLAN") }
    }
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
}
