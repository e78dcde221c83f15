import Foundation
import TallyStore
import TallyTestSupport
import TallyWire
import Testing

/// The runtime role sees only the tenant its transaction names, for every tenant table.
@Suite struct RowLevelSecurityTests {
  /// Tables with a tenant_id column; the parameterized tests below seed and change the first two.
  static let tenantTables = [
    "tenants", "api_keys", "accounts", "account_history", "contacts", "campaigns", "campaign_targets", "costs",
    "opportunities", "events", "event_keys", "surveys", "survey_rounds", "survey_invitations", "survey_responses",
    "survey_response_identities", "kpi_settings", "event_rollup_daily",
  ]
  static let seededTables = ["tenants", "api_keys"]

  private func seed(_ pool: PostgresPool) async throws -> (String, String) {
    let a = UUID().uuidString.lowercased()
    let b = UUID().uuidString.lowercased()
    for tenant in [a, b] {
      try await pool.withTransaction(tenant: tenant) { connection in
        try connection.query(
          "INSERT INTO tenants (tenant_id, name, currency) VALUES ($1::uuid, $2, 'EUR')", [tenant, tenant])
        try connection.query(
          """
          INSERT INTO api_keys (tenant_id, key_id, name, scopes, secret_sha256)
          VALUES ($1::uuid, $2, $3, '{read}', decode(repeat('00', 32), 'hex'))
          """,
          [tenant, tenant.replacingOccurrences(of: "-", with: ""), tenant]
        )
      }
    }
    return (a, b)
  }

  @Test func everyTenantTableHasForcedRowLevelSecurity() async throws {
    let database = try await TestDatabase.create()
    let owner = try PostgresConnection(conninfo: database.ownerURL)
    let rows = try owner.query(
      """
      SELECT c.relname, c.relispartition, c.relrowsecurity, c.relforcerowsecurity
      FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
      WHERE c.relkind IN ('r', 'p') AND c.relnamespace = 'public'::regnamespace
        AND a.attname = 'tenant_id' AND NOT a.attisdropped
      """
    ).rows
    // Every table, and every monthly partition of events as well.
    let tables = try rows.filter { try !$0.require(Bool.self, "relispartition") }
    #expect(Set(try tables.map { try $0.require(String.self, "relname") }) == Set(Self.tenantTables))
    #expect(rows.count > tables.count + 30, "the events partitions are missing")
    for row in rows {
      let table = try row.require(String.self, "relname")
      #expect(try row.require(Bool.self, "relrowsecurity"), "\(table)")
      #expect(try row.require(Bool.self, "relforcerowsecurity"), "\(table)")
    }
    let role = try owner.query("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = 'tally_app'").rows[0]
    #expect(try role.require(Bool.self, "rolsuper") == false)
    #expect(try role.require(Bool.self, "rolbypassrls") == false)
  }

  @Test(arguments: seededTables)
  func withNoTenantTheRuntimeRoleSeesAndWritesNothing(_ table: String) async throws {
    let database = try await TestDatabase.create()
    let pool = database.pool()
    defer { pool.close() }
    _ = try await self.seed(pool)
    let count = try await pool.withTransaction(tenant: nil) { connection in
      try connection.query("SELECT count(*) AS n FROM \(table)").rows[0].require(Int.self, "n")
    }
    #expect(count == 0)
    await #expect(throws: RPCError.self) {
      try await pool.withTransaction(tenant: nil) { connection in
        try connection.query("INSERT INTO tenants (tenant_id, name, currency) VALUES (gen_random_uuid(), 'x', 'EUR')")
      }
    }
  }

  @Test(arguments: seededTables)
  func tenantANeverSeesOrChangesTenantB(_ table: String) async throws {
    let database = try await TestDatabase.create()
    let pool = database.pool()
    defer { pool.close() }
    let (a, b) = try await self.seed(pool)
    let (visible, changed) = try await pool.withTransaction(tenant: a) { connection in
      let visible = try connection.query("SELECT tenant_id::text AS id FROM \(table)").rows
        .map { try $0.require(String.self, "id") }
      let changed = try connection.query("UPDATE \(table) SET name = 'taken' WHERE tenant_id = $1::uuid", [b])
        .affectedRows
      return (visible, changed)
    }
    #expect(Set(visible) == [a])
    #expect(changed == 0)
    let untouched = try await pool.withTransaction(tenant: b) { connection in
      try connection.query("SELECT name FROM \(table)").rows.map { try $0.require(String.self, "name") }
    }
    #expect(!untouched.contains("taken"))
  }
}
