import Foundation
import Logging
import NIOConcurrencyHelpers
import TallyStore
import TallyTestSupport
import TallyWire
import Testing

@Suite struct PostgresPoolTests {
  @Test func parametersTravelAsValuesNeverAsSQL() async throws {
    let database = try await TestDatabase.create(migrated: false)
    let pool = database.pool()
    defer { pool.close() }
    let hostile = "'; DROP TABLE tally_migrations; --"
    let row = try await pool.withConnection { connection in
      try connection.query(
        "SELECT $1::text AS text, $2::bigint AS number, $3::text AS nothing, $4::bool AS flag",
        [hostile, Int64(-42), nil, true]
      ).rows[0]
    }
    #expect(try row.decode(String.self, "text") == hostile)
    #expect(try row.decode(Int64.self, "number") == -42)
    #expect(try row.decode(String.self, "nothing") == nil)
    #expect(try row.decode(Bool.self, "flag") == true)
  }

  /// A statement past the pool's statement_timeout ends with DEADLINE_EXCEEDED, whatever its
  /// call's own timeout, and its connection serves the next call.
  @Test func aStatementPastTheStatementTimeoutEnds() async throws {
    let database = try await TestDatabase.create(migrated: false)
    let pool = database.pool(size: 1, statementTimeout: .milliseconds(200))
    defer { pool.close() }
    let started = ContinuousClock.now
    await #expect {
      try await pool.withTransaction(tenant: nil) { connection in _ = try connection.query("SELECT pg_sleep(10)") }
    } throws: { error in
      (error as? RPCError)?.code == .deadlineExceeded
    }
    #expect(ContinuousClock.now - started < .seconds(8), "the statement ran to its end")
    let one = try await pool.withConnection { connection in
      try connection.query("SELECT 1 AS one").rows[0].require(Int.self, "one")
    }
    #expect(one == 1)
  }

  @Test func twoHundredConcurrentCallsOnEightConnections() async throws {
    let database = try await TestDatabase.create(migrated: false)
    let pool = database.pool(size: 8)
    defer { pool.close() }
    let results = try await withThrowingTaskGroup(of: (Int, Int).self) { group in
      for index in 0..<200 {
        group.addTask {
          let value = try await pool.withConnection { connection in
            try connection.query("SELECT pg_sleep(0.005), $1::int AS value", [index]).rows[0].require(Int.self, "value")
          }
          return (index, value)
        }
      }
      var results: [(Int, Int)] = []
      for try await result in group { results.append(result) }
      return results
    }
    #expect(results.count == 200)
    #expect(results.allSatisfy { $0.0 == $0.1 })
    let backends = try await pool.withConnection { connection in
      try connection.query(
        "SELECT count(*) AS n FROM pg_stat_activity WHERE usename = 'tally_app' AND datname = current_database()"
      ).rows[0].require(Int.self, "n")
    }
    #expect(backends <= 8)
  }

  /// The metrics' view of the pool: connections at work, and work waiting for one.
  @Test func usageCountsBusyConnectionsAndQueuedWork() async throws {
    let database = try await TestDatabase.create(migrated: false)
    let pool = database.pool(size: 3)
    defer { pool.close() }
    let release = DispatchSemaphore(value: 0)
    // One lane: it runs on all connections but one, and the third job waits.
    let jobs = (0..<3).map { _ in
      Task { try await pool.withConnection { _ in release.wait() } }
    }
    #expect(try await waitUntil { pool.usage == PostgresPool.Usage(size: 3, busy: 2, queued: 1) })
    for _ in jobs { release.signal() }
    for job in jobs { try await job.value }
    #expect(try await waitUntil { pool.usage == PostgresPool.Usage(size: 3, busy: 0, queued: 0) })
  }

  @Test func cancellingTheCallerStopsTheStatementAndFreesTheConnection() async throws {
    let database = try await TestDatabase.create(migrated: false)
    let pool = database.pool(size: 1)
    defer { pool.close() }
    let sleeper = Task {
      try await pool.withTransaction(tenant: nil) { connection in
        try connection.query("SELECT pg_sleep(60)")
      }
    }
    try await database.waitUntilRunning("pg_sleep(60)")
    let (took, code) = await cancelAndWait(sleeper)
    // Generous for loaded CI machines, yet far below the statement's own 60 s.
    #expect(took < .seconds(20), "the cancelled call did not return within 20 s")
    #expect(code == .cancelled)
    // The only connection is usable again.
    let value = try await pool.withConnection { try $0.query("SELECT 7 AS seven").rows[0].require(Int.self, "seven") }
    #expect(value == 7)
  }

  @Test func cancellingQueuedWorkNeverRunsIt() async throws {
    let database = try await TestDatabase.create(migrated: true)
    let pool = database.pool(size: 1)
    defer { pool.close() }
    let tenant = UUID().uuidString.lowercased()
    let blocker = Task { try await pool.withConnection { try $0.query("SELECT pg_sleep(30)") } }
    try await database.waitUntilRunning("pg_sleep(30)")
    let queued = Task {
      try await pool.withTransaction(tenant: tenant) { connection in
        try connection.query("INSERT INTO tenants (tenant_id, name, currency) VALUES ($1::uuid, 'q', 'EUR')", [tenant])
      }
    }
    try await Task.sleep(for: .milliseconds(50))
    queued.cancel()
    let outcome = await queued.result
    guard case .failure(let error as RPCError) = outcome else {
      Issue.record("expected CANCELLED, got \(outcome)")
      return
    }
    #expect(error.code == .cancelled)
    blocker.cancel()
    _ = await blocker.result
    let rows = try await pool.withTransaction(tenant: tenant) { connection in
      try connection.query("SELECT count(*) AS n FROM tenants").rows[0].require(Int.self, "n")
    }
    #expect(rows == 0)
  }

  /// A cancel that reaches the server between two statements is ignored there: the connection
  /// itself sends nothing more, so the transaction does not commit after its caller gave up.
  @Test func aTransactionCancelledBetweenItsStatementsDoesNotCommit() async throws {
    let database = try await TestDatabase.create(migrated: true)
    let pool = database.pool(size: 1)
    defer { pool.close() }
    let tenant = UUID().uuidString.lowercased()
    let inserted = NIOLockedValueBox(false)
    let cancelled = NIOLockedValueBox(false)
    let writer = Task {
      try await pool.withTransaction(tenant: tenant) { connection in
        try connection.query("INSERT INTO tenants (tenant_id, name, currency) VALUES ($1::uuid, 'c', 'EUR')", [tenant])
        inserted.withLockedValue { $0 = true }
        // Cancelled here, while no statement runs: the body waits for it (a fixed sleep lost the
        // race on a loaded machine, and the transaction committed before the cancel was sent).
        let deadline = Date().addingTimeInterval(10)
        while !cancelled.withLockedValue({ $0 }), Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
      }
    }
    #expect(try await waitUntil { inserted.withLockedValue { $0 } })
    writer.cancel()
    cancelled.withLockedValue { $0 = true }
    guard case .failure(let error as RPCError) = await writer.result else {
      Issue.record("the cancelled transaction committed")
      return
    }
    #expect(error.code == .cancelled)
    let rows = try await pool.withTransaction(tenant: tenant) { connection in
      try connection.query("SELECT count(*) AS n FROM tenants").rows[0].require(Int.self, "n")
    }
    #expect(rows == 0)
  }

  /// A job that leaves a transaction on its connection (a COMMIT or ROLLBACK that failed): the next
  /// job, perhaps another tenant's, gets the connection clean.
  @Test func theNextJobGetsTheConnectionWithoutTheLastOnesTransaction() async throws {
    let database = try await TestDatabase.create(migrated: false)
    let pool = database.pool(size: 1)
    defer { pool.close() }
    try await pool.withConnection { connection in
      try connection.execute("BEGIN")
      _ = try? connection.query("SELECT 1 / 0 AS never")  // the transaction is aborted now
    }
    let value = try await pool.withTransaction(tenant: nil) { connection in
      try connection.query("SELECT 7 AS seven").rows[0].require(Int.self, "seven")
    }
    #expect(value == 7)
  }

  /// The connection lost with COMMIT sent: the error says the outcome is unknown (IdempotentCalls
  /// then keeps the call's key claimed rather than let a retry write twice).
  @Test func aConnectionLostAtCommitLeavesItsOutcomeUnknown() async throws {
    let database = try await TestDatabase.create(migrated: true)
    let pool = database.pool(size: 1)
    defer { pool.close() }
    let tenant = UUID().uuidString.lowercased()
    let appURL = database.appURL
    let outcome = await #expect(throws: RPCError.self) {
      try await pool.withTransaction(tenant: tenant) { connection in
        try connection.query("INSERT INTO tenants (tenant_id, name, currency) VALUES ($1::uuid, 'c', 'EUR')", [tenant])
        let pid = try connection.query("SELECT pg_backend_pid() AS pid").rows[0].require(Int.self, "pid")
        try PostgresConnection(conninfo: appURL).query("SELECT pg_terminate_backend($1::int)", [pid])
      }
    }
    #expect(outcome?.code == .unavailable)
    #expect((outcome?.cause as? PostgresError)?.commitOutcomeUnknown == true, "\(String(describing: outcome))")
  }

  /// An idle connection whose backend ended (terminated, the server restarted) is opened again
  /// before the next job: that job was given the dead connection, and failed UNAVAILABLE unsent.
  @Test func aConnectionThatDiedWhileIdleIsReplacedBeforeTheNextJob() async throws {
    let database = try await TestDatabase.create(migrated: false)
    let pool = database.pool(size: 1)
    defer { pool.close() }
    let pid = try await pool.withTransaction(tenant: nil) { connection in
      try connection.query("SELECT pg_backend_pid() AS pid").rows[0].require(Int.self, "pid")
    }
    // With a timeout, pg_terminate_backend waits until the process has exited, and so closed its
    // socket (its pg_stat_activity row goes before that).
    let terminated = try PostgresConnection(conninfo: database.appURL).query(
      "SELECT pg_terminate_backend($1::int, 20000) AS gone", [pid])
    #expect(try terminated.rows[0].require(Bool.self, "gone"))
    let next = try await pool.withTransaction(tenant: nil) { connection in
      try connection.query("SELECT pg_backend_pid() AS pid").rows[0].require(Int.self, "pid")
    }
    #expect(next != pid)
  }

  /// A pool thread that cannot connect (the server takes no more) while another thread's
  /// connection is up leaves its jobs to that one: it failed them UNAVAILABLE, about half of a
  /// burst, while one connection could serve them all.
  @Test func aThreadWithoutAConnectionLeavesItsJobsToOneWithIt() async throws {
    let database = try await TestDatabase.create(migrated: false)
    let owner = try PostgresConnection(conninfo: database.ownerURL)
    try owner.execute("ALTER DATABASE \(database.name) CONNECTION LIMIT 1")
    owner.close()
    let pool = database.pool(size: 2)
    defer { pool.close() }
    // One thread connects first; the other, given a job of the burst, is refused a second one.
    // (The owner's backend leaves after its close returns: until then no thread connects.)
    for attempt in 1... {
      do {
        _ = try await pool.withTransaction(tenant: nil) { try $0.query("SELECT 1 AS one") }
        break
      } catch let error as RPCError where error.code == .unavailable && attempt < 50 {
        try await Task.sleep(for: .milliseconds(100))
      }
    }
    let answered = try await withThrowingTaskGroup(of: Int.self) { group in
      for _ in 0..<20 {
        group.addTask {
          try await pool.withTransaction(tenant: nil) { connection in
            try connection.query("SELECT 1 AS one FROM pg_sleep(0.02)").rows[0].require(Int.self, "one")
          }
        }
      }
      return try await group.reduce(0, +)
    }
    #expect(answered == 20)
  }

  /// A statement whose parameters do not fit (08P01) is a server bug, not an outage: INTERNAL, and the
  /// connection goes on serving the next call.
  @Test func aParameterMismatchIsInternalAndTheConnectionLives() async throws {
    let database = try await TestDatabase.create(migrated: false)
    let pool = database.pool(size: 1)
    defer { pool.close() }
    for _ in 0..<2 {
      let error = await #expect(throws: RPCError.self) {
        try await pool.withTransaction(tenant: nil) { connection in
          try connection.query("SELECT $1::int AS one", [Int64(1), Int64(2)])
        }
      }
      #expect(error?.code == .internalError, "\(String(reflecting: error))")
    }
    let one = try await pool.withTransaction(tenant: nil) { connection in
      try connection.query("SELECT 1 AS one").rows[0].require(Int.self, "one")
    }
    #expect(one == 1)
  }

  @Test func sqlStatesBecomeStatusCodes() async throws {
    let database = try await TestDatabase.create(migrated: true)
    let pool = database.pool()
    defer { pool.close() }
    let tenant = UUID().uuidString.lowercased()
    _ = try await pool.withTransaction(tenant: tenant) { connection in
      try connection.query("INSERT INTO tenants (tenant_id, name, currency) VALUES ($1::uuid, 'A', 'EUR')", [tenant])
    }
    await #expect(throws: RPCError.self) {
      _ = try await pool.withTransaction(tenant: tenant) { connection in
        try connection.query("INSERT INTO tenants (tenant_id, name, currency) VALUES ($1::uuid, 'A', 'EUR')", [tenant])
      }
    }
    do {
      _ = try await pool.withTransaction(tenant: tenant) { connection in
        try connection.query("INSERT INTO tenants (tenant_id, name, currency) VALUES ($1::uuid, 'A', 'EUR')", [tenant])
      }
    } catch let error as RPCError {
      #expect(error.code == .alreadyExists)
      #expect(!error.message.contains("tenants"), "the message leaks the table name")
    }
    do {
      _ = try await pool.withTransaction(tenant: tenant) { connection in
        try connection.query(
          "INSERT INTO api_keys (tenant_id, key_id, name, scopes, secret_sha256) VALUES (gen_random_uuid(), 'k', 'n', '{read}', decode(repeat('00', 32), 'hex'))"
        )
      }
      Issue.record("an insert for another tenant succeeded")
    } catch let error as RPCError {
      // Row-level security refuses the row before the foreign key is checked.
      #expect(error.code == .internalError || error.code == .failedPrecondition)
    }
  }

  /// A sum past its column's range (22003) comes from the client's numbers: OUT_OF_RANGE.
  @Test func aTotalPastItsColumnIsOutOfRange() async throws {
    let database = try await TestDatabase.create(migrated: false)
    let pool = database.pool(size: 1)
    defer { pool.close() }
    let error = await #expect(throws: RPCError.self) {
      try await pool.withTransaction(tenant: nil) { connection in
        try connection.query("SELECT $1::bigint + $1::bigint AS total", [Int64.max])
      }
    }
    #expect(error?.code == .outOfRange)
  }

  /// Every way the server ends or refuses a session is UNAVAILABLE (retry), not INTERNAL.
  @Test func sessionsTheServerEndedAreUnavailable() {
    for state in ["57P01", "57P02", "57P03", "57P04", "57P05", "25P03", "53300", "08006", nil] {
      let error = PostgresError(sqlState: state, message: "ended").rpcError(
        cancelled: false, logger: Logger(label: "t"))
      #expect(error.code == .unavailable, "\(state ?? "no SQLSTATE")")
    }
  }

  /// PostgreSQL refuses COPY FROM into a table under row-level security, so bulk loads COPY into a
  /// session-local staging table and move the rows with INSERT … SELECT, where the policy applies.
  @Test func copyThroughAStagingTableKeepsRowLevelSecurity() async throws {
    let database = try await TestDatabase.create(migrated: true)
    let pool = database.pool()
    defer { pool.close() }
    let tenant = UUID().uuidString.lowercased()
    let hash = "\\\\x" + String(repeating: "ab", count: 32)
    @Sendable func load(_ lines: [String], _ connection: PostgresConnection) throws -> Int {
      try connection.execute(
        "CREATE TEMP TABLE staged_keys (tenant_id uuid, key_id text, name text, scopes text[], secret_sha256 bytea) ON COMMIT DROP"
      )
      let rows = lines.map { Array($0.utf8) }
      let copied = try connection.copyIn(
        "COPY staged_keys FROM STDIN",
        chunks: stride(from: 0, to: rows.count, by: 100).map { Array(rows[$0..<min($0 + 100, rows.count)].joined()) }
      )
      let inserted = try connection.query("INSERT INTO api_keys SELECT * FROM staged_keys").affectedRows
      #expect(copied == inserted)
      return inserted
    }
    let loaded = try await pool.withTransaction(tenant: tenant) { connection in
      try connection.query("INSERT INTO tenants (tenant_id, name, currency) VALUES ($1::uuid, 'C', 'EUR')", [tenant])
      return try load((0..<1_000).map { "\(tenant)\tkey\($0)\tcopied \($0)\t{read}\t\(hash)\n" }, connection)
    }
    #expect(loaded == 1_000)
    let count = try await pool.withTransaction(tenant: tenant) { connection in
      try connection.query("SELECT count(*) AS n FROM api_keys").rows[0].require(Int.self, "n")
    }
    #expect(count == 1_000)
    // A staged row for another tenant is refused by the policy, and the whole batch with it.
    let other = UUID().uuidString.lowercased()
    await #expect(throws: RPCError.self) {
      try await pool.withTransaction(tenant: tenant) { connection in
        try load(["\(tenant)\tfine\tok\t{read}\t\(hash)\n", "\(other)\tintruder\tx\t{read}\t\(hash)\n"], connection)
      }
    }
    let after = try await pool.withTransaction(tenant: tenant) { connection in
      try connection.query("SELECT count(*) AS n FROM api_keys WHERE key_id IN ('fine', 'intruder')").rows[0]
        .require(Int.self, "n")
    }
    #expect(after == 0)
  }
}

/// Cancels `task` and waits for its end: how long that took, and the code of the RPCError it
/// ended with (nil for any other outcome).
func cancelAndWait<T>(_ task: Task<T, any Error>) async -> (took: Duration, code: RPCError.Code?) {
  let cancelledAt = ContinuousClock.now
  task.cancel()
  let result = await task.result
  guard case .failure(let error as RPCError) = result else { return (ContinuousClock.now - cancelledAt, nil) }
  return (ContinuousClock.now - cancelledAt, error.code)
}
