import Foundation
import TallyStore
import TallyTestSupport
import Testing

@Suite struct MigratorTests {
  private let first = Migrator.Migration(version: 1, name: "0001_a.sql", sql: "CREATE TABLE a (x int)")
  private let second = Migrator.Migration(version: 2, name: "0002_b.sql", sql: "CREATE TABLE b (x int)")

  @Test func freshThenRerunIsANoOp() async throws {
    let database = try await TestDatabase.create(migrated: false)
    let connection = try PostgresConnection(conninfo: database.ownerURL)
    #expect(try Migrator(migrations: [self.second, self.first]).migrate(connection) == ["0001_a.sql", "0002_b.sql"])
    #expect(try Migrator(migrations: [self.first, self.second]).migrate(connection) == [])
    let versions = try connection.query("SELECT version FROM tally_migrations ORDER BY version").rows
    #expect(try versions.map { try $0.require(Int.self, "version") } == [1, 2])
  }

  @Test func theRepositoryMigrationsApplyFromScratch() async throws {
    let database = try await TestDatabase.create(migrated: false)
    let connection = try PostgresConnection(conninfo: database.ownerURL)
    let applied = try Migrator(directory: TestDatabase.migrationsDirectory).migrate(connection)
    #expect(applied.first == "0001_tenants_and_api_keys.sql")
  }

  /// Migration 0008's type check without a regular expression keeps the rule: 1 to 64
  /// characters, each a to z or _.
  @Test func theEventTypeRuleIsOneToSixtyFourLowercaseLettersOrUnderscores() async throws {
    let database = try await TestDatabase.create()
    let owner = try TestDatabase.operatorOwnerConnection(ownerURL: database.ownerURL)
    defer { owner.close() }
    let tenant = UUID().uuidString.lowercased()
    try owner.query("INSERT INTO tenants (tenant_id, name, currency) VALUES ($1::uuid, 'T', 'EUR')", [tenant])
    try owner.query("SELECT ensure_event_partitions('2026-01-01'::date, '2026-01-01'::date)")
    try owner.query("SELECT set_config('tally.tenant_id', $1, false)", [tenant])
    let cases: [(String, Bool)] = [
      ("email_opened", true), ("a", true), ("_", true), (String(repeating: "z", count: 64), true), ("", false),
      ("Email", false), ("a-b", false), ("web visit", false), ("é", false), ("type1", false),
      (String(repeating: "z", count: 65), false),
    ]
    for (type, allowed) in cases {
      let accepted: Bool
      do {
        try owner.query(
          "INSERT INTO events (tenant_id, event_key, occurred_at, type) VALUES ($1::uuid, $2, '2026-01-15', $3)",
          [tenant, UUID().uuidString, type])
        accepted = true
      } catch {
        accepted = false
      }
      #expect(accepted == allowed, "type \"\(type)\"")
      #expect(
        try owner.query("SELECT $1 ~ '^[a-z_]{1,64}$' AS regex", [type]).rows[0].require(Bool.self, "regex") == allowed)
    }
  }

  /// Migration 0006 leaves every tenant-only policy of a table read directly in the form the
  /// planner can estimate (no sub-SELECT), and the operator-aware ones as they were.
  @Test func tenantPoliciesAreOnesThePlannerCanEstimate() async throws {
    let database = try await TestDatabase.create()
    let owner = try PostgresConnection(conninfo: database.ownerURL)
    defer { owner.close() }
    let policies = try owner.query(
      """
      SELECT pol.tablename, pol.qual LIKE '%SELECT%' AS hidden, pol.qual LIKE '%tally.operator%' AS operator
      FROM pg_policies pol JOIN pg_class c ON c.relname = pol.tablename
      WHERE pol.policyname = 'tenant_isolation' AND NOT c.relispartition
      """
    ).rows.map {
      (
        try $0.require(String.self, "tablename"), try $0.require(Bool.self, "hidden"),
        try $0.require(Bool.self, "operator")
      )
    }
    #expect(policies.count >= 17)
    #expect(policies.filter { $0.1 && !$0.2 }.map(\.0) == [], "tenant policies the planner cannot see through")
    #expect(Set(policies.filter(\.2).map(\.0)) == ["tenants", "api_keys"])
  }

  /// Migration 0007's bounds of a KPI call's periods are the first start and the last end, and
  /// the planner sees them as dates (a sub-SELECT of the periods it could not estimate).
  @Test func periodBoundsAreDatesThePlannerSees() async throws {
    let database = try await TestDatabase.create()
    let owner = try PostgresConnection(conninfo: database.ownerURL)
    defer { owner.close() }
    let (starts, ends) = ("{2026-07-01,2026-03-31,2026-05-15}", "{2026-10-01,2026-07-01,2026-06-01}")
    let bounds = try owner.query(
      "SELECT period_first_day($1::date[])::text AS first, period_last_day($2::date[])::text AS last", [starts, ends]
    ).rows[0]
    #expect(try bounds.require(String.self, "first") == "2026-03-31")
    #expect(try bounds.require(String.self, "last") == "2026-10-01")
    let plan = try owner.query(
      """
      EXPLAIN SELECT count(*) FROM event_rollup_daily e
      WHERE e.day >= period_first_day($1::date[]) AND e.day < period_last_day($2::date[])
      """, [starts, ends]
    ).rows.map { try $0.require(String.self, "QUERY PLAN") }.joined(separator: "\n")
    #expect(plan.contains("'2026-03-31'::date") && plan.contains("'2026-10-01'::date"), "\(plan)")
  }

  /// Migration 0004 fills the KPI rollups from the events stored before it, exactly.
  @Test func theRollupMigrationCountsTheEventsAlreadyStored() async throws {
    let database = try await TestDatabase.create(migrated: false)
    let owner = try PostgresConnection(conninfo: database.ownerURL)
    defer { owner.close() }
    #expect(try Migrator(migrations: TestDatabase.migrations(before: "0004")).migrate(owner).count == 3)
    let tenant = UUID().uuidString.lowercased()
    let pool = database.pool()
    defer { pool.close() }
    // 40 events over two days, two types, two accounts, some without contact or campaign.
    try await pool.withTransaction(tenant: tenant) { connection in
      try connection.query("INSERT INTO tenants (tenant_id, name, currency) VALUES ($1::uuid, 'T', 'EUR')", [tenant])
      try connection.query(
        """
        INSERT INTO events (tenant_id, event_key, occurred_at, type, account_id, contact_id, campaign_id, duration_seconds)
        SELECT $1::uuid, 'k' || i, timestamptz '2026-03-01 10:00Z' + (i % 2) * interval '1 day',
          CASE WHEN i % 3 = 0 THEN 'web_visit' ELSE 'email_opened' END, 'a' || (i % 2),
          CASE WHEN i % 4 = 0 THEN NULL ELSE 'c' || (i % 5) END, CASE WHEN i % 5 = 0 THEN NULL ELSE 'camp' END, i
        FROM generate_series(1, 40) AS i
        """, [tenant])
    }
    #expect(try Migrator(directory: TestDatabase.migrationsDirectory).migrate(owner).first == "0004_kpis.sql")
    let (rollup, raw) = try await pool.withTransaction(tenant: tenant) { connection in
      let rollup = try connection.query(
        "SELECT sum(events)::bigint AS n, sum(seconds)::bigint AS s, count(*) AS rows FROM event_rollup_daily"
      ).rows[0]
      let raw = try connection.query(
        """
        SELECT count(*) AS n, sum(duration_seconds)::bigint AS s,
          count(DISTINCT ((occurred_at AT TIME ZONE 'UTC')::date, type, account_id, coalesce(campaign_id, ''))) AS rows FROM events
        """
      ).rows[0]
      return (rollup, raw)
    }
    for column in ["n", "s", "rows"] {
      #expect(try rollup.require(Int.self, column) == raw.require(Int.self, column), "\(column)")
    }
    #expect(try raw.require(Int.self, "n") == 40)
  }

  @Test func aChangedFileThatWasAppliedIsRefused() async throws {
    let database = try await TestDatabase.create(migrated: false)
    let connection = try PostgresConnection(conninfo: database.ownerURL)
    try Migrator(migrations: [self.first]).migrate(connection)
    var tampered = self.first
    tampered.sql += " -- edited"
    #expect(throws: Migrator.Failure.self) { try Migrator(migrations: [tampered]).migrate(connection) }
    do {
      try Migrator(migrations: [tampered]).migrate(connection)
    } catch let failure as Migrator.Failure {
      #expect(failure.description.contains("0001_a.sql was changed after it was applied"))
    }
  }

  /// A build rolled back past a migration the database has is refused: its queries would write
  /// rows the newer schema's triggers and columns do not expect.
  @Test func aDatabaseMigratedByANewerBuildIsRefused() async throws {
    let database = try await TestDatabase.create(migrated: false)
    let connection = try PostgresConnection(conninfo: database.ownerURL)
    try Migrator(migrations: [self.first, self.second]).migrate(connection)
    let failure = #expect(throws: Migrator.Failure.self) { try Migrator(migrations: [self.first]).migrate(connection) }
    #expect(
      failure?.description.contains("the database has migration 0002_b.sql, which this tallyd does not know") == true)
    #expect(try Migrator(migrations: [self.first, self.second]).migrate(connection) == [])
  }

  @Test func aFailingMigrationLeavesNothingBehind() async throws {
    let database = try await TestDatabase.create(migrated: false)
    let connection = try PostgresConnection(conninfo: database.ownerURL)
    let broken = Migrator.Migration(version: 3, name: "0003_c.sql", sql: "CREATE TABLE c (x int); SELECT 1/0;")
    #expect(throws: Migrator.Failure.self) { try Migrator(migrations: [self.first, broken]).migrate(connection) }
    let tables = try connection.query(
      "SELECT to_regclass('c') IS NULL AS gone, (SELECT count(*) FROM tally_migrations) AS n"
    ).rows[0]
    #expect(try tables.require(Bool.self, "gone"))
    #expect(try tables.require(Int.self, "n") == 1)
  }

  @Test func twoMigratorsAtOnceApplyEachFileOnce() async throws {
    let database = try await TestDatabase.create(migrated: false)
    let slow = Migrator.Migration(
      version: 1, name: "0001_slow.sql", sql: "SELECT pg_sleep(0.5); CREATE TABLE slow (x int)")
    let migrator = Migrator(migrations: [slow])
    let results = try await withThrowingTaskGroup(of: [String].self) { group in
      for _ in 0..<2 {
        group.addTask {
          let connection = try PostgresConnection(conninfo: database.ownerURL)
          return try migrator.migrate(connection)
        }
      }
      var results: [[String]] = []
      for try await result in group { results.append(result) }
      return results
    }
    // One applied the file; the other waited for the lock, then found nothing to do.
    #expect(results.sorted { $0.count < $1.count } == [[], ["0001_slow.sql"]])
  }
}
