import Foundation
import Logging
import TallyStore
import TallyTestSupport
import TallyWire
import Testing

/// What a client sees for the database's refusals: its own bad values are INVALID_ARGUMENT naming
/// the column or rule, passing conditions are retryable, and only this server's faults are INTERNAL.
@Suite struct DatabaseErrorStatusTests {
  /// Values no field check caught, refused by the schema: the client's, never a value echoed back.
  @Test func refusedValuesAreInvalidArgumentNamingTheColumn() async throws {
    let database = try await TestDatabase.create(migrated: false)
    let pool = database.pool(size: 1)
    defer { pool.close() }
    let statements: [(sql: String, value: String?, mentions: String)] = [
      ("INSERT INTO refused (amount) VALUES ($1::int)", nil, "amount"),
      ("INSERT INTO refused (amount) VALUES ($1::int)", "-7", "rule amount_positive"),
      ("INSERT INTO refused (amount, label) VALUES (1, $1)", "secretly-long", "longer than allowed"),
      ("SELECT $1::uuid AS id", "not-a-uuid-value", "form its field needs"),
      ("SELECT $1::timestamptz AS at", "294277-01-01", "date or time"),
    ]
    for statement in statements {
      let error = await #expect(throws: RPCError.self, "\(statement.sql) with \(statement.value ?? "NULL")") {
        try await pool.withTransaction(tenant: nil) { connection in
          try connection.execute(
            "CREATE TEMP TABLE refused (amount int NOT NULL CONSTRAINT amount_positive CHECK (amount > 0), label varchar(3)) ON COMMIT DROP"
          )
          try connection.query(statement.sql, [statement.value])
        }
      }
      #expect(error?.code == .invalidArgument, "\(statement.sql)")
      #expect(error?.message.contains(statement.mentions) == true, "\(error?.message ?? "")")
      if let value = statement.value { #expect(error?.message.contains(value) == false, "the value is echoed") }
    }
  }

  /// lock_timeout: another transaction held what this one needed. A retry may pass: ABORTED.
  @Test func aLockHeldPastTheLockTimeoutIsAborted() async throws {
    let database = try await TestDatabase.create(migrated: false)
    let pool = database.pool(size: 2)
    defer { pool.close() }
    // Held until released (a 3 s hold ran out on a loaded machine before the second one tried).
    let holder = try await HeldTransaction(pool, tenant: nil) { connection in
      try connection.query("SELECT pg_advisory_xact_lock(4242)")
    }
    let error = await #expect(throws: RPCError.self) {
      try await pool.withTransaction(tenant: nil) { connection in
        try connection.execute("SET LOCAL lock_timeout = '100ms'")
        try connection.query("SELECT pg_advisory_xact_lock(4242)")
      }
    }
    #expect(error?.code == .aborted)
    try await holder.release()
  }

  /// A read-only transaction (a standby's, or a primary's during a fail-over) waits for a primary.
  @Test func aWriteTheDatabaseRefusesAsReadOnlyIsUnavailable() async throws {
    let database = try await TestDatabase.create(migrated: false)
    let pool = database.pool(size: 1)
    defer { pool.close() }
    let error = await #expect(throws: RPCError.self) {
      try await pool.withTransaction(tenant: nil) { connection in
        try connection.execute("SET TRANSACTION READ ONLY")
        try connection.execute("CREATE TABLE written (n int)")
      }
    }
    #expect(error?.code == .unavailable)
    #expect(error?.retryAfter != nil)
  }

  /// A statement that did not answer as the server expected is its own fault, not an outage.
  @Test func aStatementThatDoesNotAnswerAsExpectedIsInternal() async throws {
    let database = try await TestDatabase.create(migrated: false)
    let pool = database.pool(size: 1)
    defer { pool.close() }
    let error = await #expect(throws: RPCError.self) {
      try await pool.withTransaction(tenant: nil) { connection in
        _ = try connection.copyIn("SELECT 1", chunks: CollectionOfOne([UInt8]("1\n".utf8)))
      }
    }
    #expect(error?.code == .internalError)
    #expect(error?.retryAfter == nil)
  }

  /// Conditions on the database's side that may pass: retry later, not INTERNAL.
  @Test func theDatabasesPassingFailuresAreUnavailable() {
    for state in ["25006", "40003", "58000", "58030", "53000", "53100", "53200", "53400"] {
      let error = PostgresError(sqlState: state, message: "failed").rpcError(
        cancelled: false, logger: Logger(label: "t"))
      #expect(error.code == .unavailable, "\(state)")
      #expect(error.retryAfter != nil, "\(state)")
    }
  }
}
