import Foundation
import TallyStore
import TallyTestSupport
import Testing

/// Migration 0023 rebuilds the tenures that account_history shows ended by a win-back, with the
/// rule its trigger applies to later writes.
@Suite struct PastTenuresMigrationTests {
  @Test func winBacksInTheHistoryBecomePastTenures() async throws {
    let database = try await TestDatabase.create(migrated: false)
    let owner = try PostgresConnection(conninfo: database.ownerURL)
    defer { owner.close() }
    #expect(try Migrator(migrations: TestDatabase.migrations(before: "0023")).migrate(owner).count == 22)
    let tenant = UUID().uuidString.lowercased()
    let pool = database.pool()
    defer { pool.close() }
    // Each write in its own transaction, as clients made them before the migration.
    let writes: [(String, String?, String?)] = [
      ("returner", "2025-01-01", "2026-01-20"), ("returner", "2026-03-01", nil),
      ("twice", "2024-01-01", "2024-06-01"), ("twice", "2024-09-01", "2025-03-01"), ("twice", "2025-06-01", nil),
      ("fixed", "2025-06-01", nil), ("fixed", "2025-02-01", nil),
      ("undone", "2025-01-01", "2026-02-01"), ("undone", "2025-01-01", nil),
      ("late", "2025-01-01", "2025-06-01"), ("late", "2025-01-01", nil), ("late", "2025-09-01", nil),
    ]
    try await pool.withTransaction(tenant: tenant) { connection in
      try connection.query("INSERT INTO tenants (tenant_id, name, currency) VALUES ($1::uuid, 'T', 'EUR')", [tenant])
    }
    for (id, since, churned) in writes {
      try await pool.withTransaction(tenant: tenant) { connection in
        try connection.query(
          """
          INSERT INTO accounts (tenant_id, account_id, name, tier, in_icp, customer_since, churned_at)
          VALUES ($1::uuid, $2, $2, 1, false, $3::timestamptz, $4::timestamptz)
          ON CONFLICT (tenant_id, account_id) DO UPDATE
            SET customer_since = EXCLUDED.customer_since, churned_at = EXCLUDED.churned_at
          """, [tenant, id, since, churned])
      }
    }
    #expect(try Migrator(directory: TestDatabase.migrationsDirectory).migrate(owner).count >= 1)
    let tenures = try await pool.withTransaction(tenant: tenant) { connection in
      try connection.query(
        """
        SELECT account_id, coalesce(array_to_string(ARRAY(
          SELECT to_char(lower(r) AT TIME ZONE 'UTC', 'YYYY-MM-DD') || '..' || to_char(upper(r) AT TIME ZONE 'UTC', 'YYYY-MM-DD')
          FROM unnest(past_tenures) r), ' '), '') AS tenures
        FROM accounts ORDER BY account_id
        """
      ).rows.map { (try $0.require(String.self, "account_id"), try $0.require(String.self, "tenures")) }
    }
    // A win-back written in two steps ("late": the churn cleared, then the start moved) reads as
    // two corrections.
    #expect(tenures.map(\.0) == ["fixed", "late", "returner", "twice", "undone"])
    #expect(
      tenures.map(\.1) == ["", "", "2025-01-01..2026-01-20", "2024-01-01..2024-06-01 2024-09-01..2025-03-01", ""])
  }
}
