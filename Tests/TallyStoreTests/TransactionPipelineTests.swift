import Foundation
import Logging
import NIOConcurrencyHelpers
import TallyStore
import TallyTestSupport
import TallyWire
import Testing

/// A transaction's BEGIN and scope travel with its first statement (PostgresConnection.begin).
@Suite struct TransactionPipelineTests {
  /// A pool of one open connection whose statements from now on are recorded in order.
  static func recordingPool(
    _ database: TestDatabase
  ) async throws -> (PostgresPool, NIOLockedValueBox<[PostgresStatement]>) {
    let sent = NIOLockedValueBox<[PostgresStatement]>([])
    var logger = Logger(label: "tally-test-pipeline")
    logger.logLevel = .critical
    let pool = PostgresPool(
      configuration: .init(
        conninfo: database.appURL, size: 1,
        statementObserver: { statement in sent.withLockedValue { $0.append(statement) } }),
      logger: logger)
    // The connection's session settings, sent when it opens, are not the tests' business.
    try await pool.withConnection { _ in }
    sent.withLockedValue { $0 = [] }
    return (pool, sent)
  }

  /// The first statement runs inside the transaction with its scope, and the transaction (with
  /// its local setting) outlives the pipeline that opened it.
  @Test func theFirstStatementCarriesBeginAndScope() async throws {
    let database = try await TestDatabase.create(migrated: false)
    let (pool, sent) = try await Self.recordingPool(database)
    defer { pool.close() }
    let tenant = UUID().uuidString.lowercased()
    let (first, second, sameTransaction) = try await pool.withTransaction(tenant: tenant) { connection in
      let first = try connection.query(
        "SELECT current_setting('tally.tenant_id', true) AS tenant, pg_current_xact_id()::text AS xact"
      ).rows[0]
      let second = try connection.query(
        "SELECT current_setting('tally.tenant_id', true) AS tenant, pg_current_xact_id()::text AS xact"
      ).rows[0]
      return (
        try first.decode(String.self, "tenant"), try second.decode(String.self, "tenant"),
        try first.decode(String.self, "xact") == second.decode(String.self, "xact")
      )
    }
    #expect(first == tenant)
    #expect(second == tenant)
    #expect(sameTransaction, "the two statements ran in different transactions")
    let statements = sent.withLockedValue { $0 }
    #expect(statements.map(\.sql.first) == ["B", "S", "S", "S", "C"])
    #expect(statements.first?.sql == "BEGIN")
    #expect(statements[1].parameters == ["tally.tenant_id", tenant])
    #expect(statements.last?.sql == "COMMIT")
    // Outside the transaction the local setting is gone.
    let after = try await pool.withConnection { connection in
      try connection.query("SELECT current_setting('tally.tenant_id', true) AS tenant").rows[0]
        .decode(String.self, "tenant")
    }
    #expect(after == nil || after == "")
  }

  @Test func aTransactionThatRunsNothingSendsNothing() async throws {
    let database = try await TestDatabase.create(migrated: false)
    let (pool, sent) = try await Self.recordingPool(database)
    defer { pool.close() }
    let value = try await pool.withTransaction(scope: .operator) { _ in 42 }
    #expect(value == 42)
    #expect(sent.withLockedValue { $0 }.isEmpty)
  }

  /// A statement that fails in a pipeline (the first, with BEGIN; the last, with COMMIT) rolls the
  /// transaction back and leaves the connection out of pipeline mode and usable, with no
  /// setting left behind.
  @Test(arguments: [true, false]) func aFailedPipelineWritesNothingAndTheConnectionLives(failingFirst: Bool)
    async throws
  {
    let database = try await TestDatabase.create(migrated: true)
    let (pool, _) = try await Self.recordingPool(database)
    defer { pool.close() }
    let tenant = UUID().uuidString.lowercased()
    let twoTenants =
      "INSERT INTO tenants (tenant_id, name, currency) VALUES ($1::uuid, 'P', 'EUR'), ($1::uuid, 'P', 'EUR')"
    for _ in 0..<3 {
      await #expect(throws: RPCError.self) {
        try await pool.withTransaction(tenant: tenant) { connection in
          if failingFirst {
            try connection.query(twoTenants, [tenant])
          } else {
            // The first statement's row must be rolled back with the last one's failure.
            try connection.query(
              "INSERT INTO tenants (tenant_id, name, currency) VALUES ($1::uuid, 'P', 'EUR')", [tenant])
            try connection.queryAndCommit(twoTenants, [tenant])
          }
        }
      }
    }
    let (count, setting) = try await pool.withTransaction(scope: .operator) { connection in
      let row = try connection.query(
        "SELECT count(*) AS n, current_setting('tally.tenant_id', true) AS tenant FROM tenants WHERE tenant_id = $1::uuid",
        [tenant]
      ).rows[0]
      return (try row.require(Int.self, "n"), try row.decode(String.self, "tenant"))
    }
    #expect(count == 0)
    #expect(setting == nil || setting == "")
  }

  /// A transaction whose first statement cannot join a pipeline (several statements in one text)
  /// sends its BEGIN and scope first, and the statement still runs inside the transaction.
  @Test func aFirstStatementOutsideThePipelineStillRunsInTheTransaction() async throws {
    let database = try await TestDatabase.create(migrated: false)
    let (pool, sent) = try await Self.recordingPool(database)
    defer { pool.close() }
    let tenant = UUID().uuidString.lowercased()
    let seen = try await pool.withTransaction(tenant: tenant) { connection in
      try connection.execute(
        "CREATE TEMP TABLE scratch (tenant text) ON COMMIT DROP; INSERT INTO scratch VALUES (current_setting('tally.tenant_id', true))"
      )
      return try connection.query("SELECT tenant FROM scratch").rows[0].decode(String.self, "tenant")
    }
    #expect(seen == tenant)
    #expect(sent.withLockedValue { $0 }.map(\.sql.first) == ["B", "S", "C", "S", "C"])
  }
}

/// A transaction's last statement may carry its COMMIT (PostgresConnection.queryAndCommit).
@Suite struct CommitPipelineTests {
  /// A transaction of one statement: BEGIN, scope, statement and COMMIT in one pipeline, the rows
  /// stored, and no second COMMIT from the pool.
  @Test func aSingleStatementTransactionIsOnePipeline() async throws {
    let database = try await TestDatabase.create(migrated: true)
    let (pool, sent) = try await TransactionPipelineTests.recordingPool(database)
    defer { pool.close() }
    let tenant = UUID().uuidString.lowercased()
    try await pool.withTransaction(tenant: tenant) { connection in
      try connection.queryAndCommit(
        "INSERT INTO tenants (tenant_id, name, currency) VALUES ($1::uuid, 'One', 'EUR')", [tenant])
    }
    #expect(sent.withLockedValue { $0 }.map(\.sql.first) == ["B", "S", "I", "C"])
    let names = try await pool.withTransaction(tenant: tenant) { connection in
      try connection.query("SELECT name FROM tenants").rows.map { try $0.require(String.self, "name") }
    }
    #expect(names == ["One"])
  }

  /// After statements of its own, the last one carries the COMMIT; nothing may run after it.
  @Test func theLastStatementCarriesTheCommitAndNothingRunsAfterIt() async throws {
    let database = try await TestDatabase.create(migrated: true)
    let (pool, sent) = try await TransactionPipelineTests.recordingPool(database)
    defer { pool.close() }
    let tenant = UUID().uuidString.lowercased()
    let error = await #expect(throws: RPCError.self) {
      try await pool.withTransaction(tenant: tenant) { connection in
        try connection.query("SELECT 1 AS one")
        try connection.queryAndCommit(
          "INSERT INTO tenants (tenant_id, name, currency) VALUES ($1::uuid, 'Two', 'EUR')", [tenant])
        try connection.query("SELECT 2 AS two")
      }
    }
    #expect(error?.code == .internalError)
    #expect(sent.withLockedValue { $0 }.map(\.sql.first) == ["B", "S", "S", "I", "C"])
    // The insert was committed before the refused statement.
    let count = try await pool.withTransaction(tenant: tenant) { connection in
      try connection.query("SELECT count(*) AS n FROM tenants").rows[0].require(Int.self, "n")
    }
    #expect(count == 1)
  }
}
