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
    "survey_response_identities", "survey_sealed_answers", "kpi_settings", "event_rollup_daily", "call_results",
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

  /// A tenant table's policy: the row's tenant is the one the transaction names, in the form the
  /// planner folds (migration 0006).
  static let tenantPolicy = "(tenant_id = (NULLIF(current_setting('tally.tenant_id'::text, true), ''::text))::uuid)"
  /// The same test as a sub-SELECT, which an event partition (read through its parent) keeps.
  static let tenantSubSelect =
    "( SELECT (NULLIF(current_setting('tally.tenant_id'::text, true), ''::text))::uuid AS \"nullif\")"
  static let partitionPolicy = "(tenant_id = \(tenantSubSelect))"
  /// On tenants and api_keys, operator work as well (`tally.operator` on).
  static let tenantOrOperatorPolicy =
    "((tenant_id = \(tenantSubSelect)) OR (( SELECT current_setting('tally.operator'::text, true) AS current_setting) "
    + "= 'on'::text))"

  /// The flags above would pass a `USING (true)`; this reads what each policy the runtime role
  /// meets allows: exactly one per tenant table and partition, for every command, that names the
  /// transaction's tenant (or, on tenants and api_keys only, the operator's setting), and no
  /// WITH CHECK of its own, so rows written must pass the same test.
  @Test func everyPolicyTheRuntimeRoleMeetsNamesTheTransactionsTenant() async throws {
    let database = try await TestDatabase.create()
    let owner = try PostgresConnection(conninfo: database.ownerURL)
    let rows = try owner.query(
      """
      SELECT c.relname, c.relispartition, p.polname::text AS polname, p.polcmd::text AS cmd, p.polpermissive,
        pg_get_expr(p.polqual, p.polrelid) AS qual, p.polwithcheck IS NOT NULL AS has_check
      FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
      LEFT JOIN pg_policy p ON p.polrelid = c.oid
        AND ('tally_app'::regrole::oid = ANY(p.polroles) OR 0::oid = ANY(p.polroles))
      WHERE c.relkind IN ('r', 'p') AND c.relnamespace = 'public'::regnamespace
      """
    ).rows
    var policies: [String: Int] = [:]
    for row in rows {
      let table = try row.require(String.self, "relname")
      _ = try #require(try row.decode(String.self, "polname"), "\(table) has no policy for tally_app")
      let qual = try #require(try row.decode(String.self, "qual"), "\(table): a policy with no USING")
      policies[table, default: 0] += 1
      #expect(try row.require(String.self, "cmd") == "*", "\(table): one policy for every command")
      #expect(try row.require(Bool.self, "polpermissive"), "\(table)")
      #expect(try !row.require(Bool.self, "has_check"), "\(table): a WITH CHECK of its own")
      // The whole expression, as PostgreSQL prints it: a test of its parts passed a
      // `tenant_id = coalesce(<the setting>, tenant_id)` that lets every row through.
      let expected =
        ["tenants", "api_keys"].contains(table)
        ? Self.tenantOrOperatorPolicy
        : try row.require(Bool.self, "relispartition") ? Self.partitionPolicy : Self.tenantPolicy
      #expect(qual == expected, "\(table): \(qual)")
    }
    #expect(policies.count > Self.tenantTables.count + 30, "the events partitions are missing")
    #expect(policies.filter { $0.value != 1 }.isEmpty, "tables with several policies: \(policies)")
  }

  /// Tables that hold no tenant's rows (the operator's keys and stored call results) are the
  /// operator's alone: the runtime role reaches only those, through one forced policy that needs
  /// `tally.operator` (policies for the owner's maintenance functions alone are not the runtime
  /// role's). A new such table fails here until it is listed and fenced the same way.
  @Test func everyTableWithoutATenantIsTheOperatorsAlone() async throws {
    let database = try await TestDatabase.create()
    let owner = try PostgresConnection(conninfo: database.ownerURL)
    let rows = try owner.query(
      """
      SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
        (SELECT string_agg(pg_get_expr(p.polqual, p.polrelid), ' | ') FROM pg_policy p
          WHERE p.polrelid = c.oid AND (p.polroles = '{0}' OR 'tally_app'::regrole = ANY (p.polroles))) AS quals
      FROM pg_class c
      WHERE c.relkind IN ('r', 'p') AND c.relnamespace = 'public'::regnamespace
        AND has_table_privilege('tally_app', c.oid, 'SELECT, INSERT, UPDATE, DELETE')
        AND NOT EXISTS (
          SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped)
      """
    ).rows
    let tables = try rows.map { try $0.require(String.self, "relname") }
    #expect(Set(tables) == ["operator_api_keys", "operator_call_results"])
    for row in rows {
      let table = try row.require(String.self, "relname")
      #expect(try row.require(Bool.self, "relrowsecurity") && row.require(Bool.self, "relforcerowsecurity"), "\(table)")
      let quals = try #require(try row.decode(String.self, "quals"), "\(table) has no policy")
      #expect(!quals.contains(" | "), "\(table): several policies: \(quals)")
      #expect(
        quals.contains("current_setting('tally.operator'::text, true)") && quals.contains("'on'"), "\(table): \(quals)")
      #expect(!quals.contains(" OR "), "\(table): \(quals)")
    }
  }

  /// A SECURITY DEFINER function runs as its owner: its search_path names pg_temp last, or the
  /// caller's temporary tables would be searched first and could stand in for the ones it reads.
  @Test func everySecurityDefinerFunctionSearchesTemporaryTablesLast() async throws {
    let database = try await TestDatabase.create()
    let owner = try PostgresConnection(conninfo: database.ownerURL)
    let rows = try owner.query(
      """
      SELECT proname::text AS name, coalesce(array_to_string(proconfig, ';'), '') AS config FROM pg_proc
      WHERE prosecdef AND pronamespace = 'public'::regnamespace
      """
    ).rows
    #expect(rows.count >= 5)
    for row in rows {
      let (name, config) = (try row.require(String.self, "name"), try row.require(String.self, "config"))
      // Among its other settings (ensure_event_partitions also sets its TimeZone).
      let searchPath = config.split(separator: ";").first { $0.hasPrefix("search_path=") }
      #expect(searchPath?.hasSuffix(", pg_temp") == true, "\(name): \(config)")
    }
  }

  /// The runtime role may run exactly the SECURITY DEFINER functions the server calls: each acts
  /// as the owner, past row security. 0020's one-argument claim mark stayed callable after 0022's
  /// replaced it, and marked a claim a repeat had taken over.
  @Test func theRuntimeRoleRunsOnlyTheDefinerFunctionsTheServerCalls() async throws {
    let database = try await TestDatabase.create()
    let owner = try PostgresConnection(conninfo: database.ownerURL)
    let rows = try owner.query(
      """
      SELECT oid::regprocedure::text AS signature FROM pg_proc
      WHERE prosecdef AND pronamespace = 'public'::regnamespace AND has_function_privilege('tally_app', oid, 'EXECUTE')
      ORDER BY 1
      """
    ).rows
    #expect(
      try rows.map { try $0.require(String.self, "signature") } == [
        "ensure_event_partitions(date,date)", "mark_call_wrote(uuid,uuid)", "pulse_surveys_with_cadence()",
        "purge_expired_call_results()", "tally_last_migration()",
        "tenants_with_sealed_answers_due(timestamp with time zone)",
      ])
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
    // Nor writes a row in B's name: the policy checks new rows as it filters old ones.
    let insert =
      table == "tenants"
      ? "INSERT INTO tenants (tenant_id, name, currency) VALUES ($1::uuid, 'forged', 'EUR')"
      : "INSERT INTO api_keys (tenant_id, key_id, name, scopes, secret_sha256) "
        + "VALUES ($1::uuid, 'forged', 'forged', '{read}', decode(repeat('00', 32), 'hex'))"
    let forgedTenant = table == "tenants" ? UUID().uuidString.lowercased() : b
    let refused = await #expect(throws: RPCError.self) {
      try await pool.withTransaction(tenant: a) { connection in try connection.query(insert, [forgedTenant]) }
    }
    #expect(String(reflecting: refused).contains("row-level security"), "\(String(reflecting: refused))")
    let untouched = try await pool.withTransaction(tenant: b) { connection in
      try connection.query("SELECT name FROM \(table)").rows.map { try $0.require(String.self, "name") }
    }
    #expect(!untouched.contains("taken"))
  }
}
