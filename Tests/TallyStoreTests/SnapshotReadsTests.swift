import Foundation
import NIOConcurrencyHelpers
import TallyStore
import TallyTestSupport
import TallyWire
import Testing

/// A snapshot read's units run on two backends that see the same rows and settings
/// (PostgresPool.withSnapshotRead, SnapshotReads.run), and a busy pool runs them all on one.
@Suite struct SnapshotReadsTests {
  /// What one unit saw: its backend, the rows of `seen`, and the transaction's settings.
  struct Sight: Sendable, Equatable {
    var backend: Int
    var rows: Int
    var tenant: String?
    var mergeJoin: String?
    var readOnly: String?
  }

  static let look = """
    SELECT pg_backend_pid() AS backend, (SELECT count(*) FROM seen) AS rows,
      current_setting('tally.tenant_id', true) AS tenant, current_setting('enable_mergejoin') AS merge_join,
      current_setting('transaction_read_only') AS read_only, pg_sleep($1::float8)::text AS slept
    """

  /// Units that each record what they saw, sleeping `seconds` so that both connections get some.
  static func lookingUnits(
    _ count: Int, seconds: Double, into sights: NIOLockedValueBox<[Sight]>
  ) -> [@Sendable (PostgresConnection) throws -> Void] {
    (0..<count).map { _ in
      { connection in
        let row = try connection.query(Self.look, [String(seconds)]).rows[0]
        let sight = Sight(
          backend: try row.require(Int.self, "backend"), rows: try row.require(Int.self, "rows"),
          tenant: try row.decode(String.self, "tenant"), mergeJoin: try row.decode(String.self, "merge_join"),
          readOnly: try row.decode(String.self, "read_only"))
        sights.withLockedValue { $0.append(sight) }
      }
    }
  }

  static func database() async throws -> TestDatabase {
    let database = try await TestDatabase.create(migrated: false)
    let owner = try PostgresConnection(conninfo: database.ownerURL)
    try owner.execute(
      "CREATE TABLE seen (id int); INSERT INTO seen VALUES (1), (2); GRANT SELECT, INSERT ON seen TO tally_app")
    return database
  }

  /// The rows of `seen` that a new snapshot read sees.
  static func seenRows(_ pool: PostgresPool) async throws -> Int {
    try await pool.withSnapshotRead(scope: .nothing) { reads in
      try reads.connection.query("SELECT count(*) AS rows FROM seen").rows[0].require(Int.self, "rows")
    }
  }

  /// A row committed after the transaction took its snapshot is seen by neither connection, and the
  /// helper runs under the same tenant and settings, read-only.
  @Test func bothConnectionsReadTheTransactionsSnapshotWithItsSettings() async throws {
    let database = try await Self.database()
    let pool = database.pool(size: 3)  // a lane runs on all connections but one
    defer { pool.close() }
    let tenant = UUID().uuidString.lowercased()
    let sights = NIOLockedValueBox<[Sight]>([])
    let own = try await pool.withSnapshotRead(scope: .tenant(tenant), settings: [("enable_mergejoin", "off")]) {
      reads in
      let own = try reads.connection.query("SELECT pg_backend_pid() AS backend").rows[0].require(Int.self, "backend")
      let writer = try PostgresConnection(conninfo: database.appURL)
      try writer.execute("INSERT INTO seen VALUES (3)")
      try reads.run(Self.lookingUnits(6, seconds: 0.2, into: sights))
      return own
    }
    let seen = sights.withLockedValue { $0 }
    #expect(seen.count == 6)
    #expect(Set(seen.map(\.backend)).count == 2, "every unit ran on one backend: \(seen.map(\.backend))")
    #expect(seen.contains { $0.backend == own })
    for sight in seen {
      #expect(sight.rows == 2, "a unit saw a row committed after the snapshot")
      #expect(sight.tenant == tenant)
      #expect(sight.mergeJoin == "off")
      #expect(sight.readOnly == "on")
    }
    // A new transaction sees the row.
    #expect(try await Self.seenRows(pool) == 3)
  }

  /// With every other connection busy, the transaction's own connection runs every unit: a full
  /// pool of snapshot reads completes instead of each waiting for a helper.
  @Test func aBusyPoolRunsEveryUnitOnTheTransactionsConnection() async throws {
    let database = try await Self.database()
    let pool = database.pool(size: 3)  // a lane runs on all connections but one
    defer { pool.close() }
    let results = try await withThrowingTaskGroup(of: Int.self) { group in
      for _ in 0..<4 {
        group.addTask {
          let sights = NIOLockedValueBox<[Sight]>([])
          try await pool.withSnapshotRead(scope: .nothing) { reads in
            try reads.run(Self.lookingUnits(4, seconds: 0.05, into: sights))
          }
          return sights.withLockedValue { $0.count }
        }
      }
      return try await group.reduce(into: []) { $0.append($1) }
    }
    #expect(results == [4, 4, 4, 4])
  }

  /// A unit's error ends the run with that error, whichever connection ran it, and a unit that
  /// writes fails: the transaction is read-only on both connections.
  @Test func aFailingUnitFailsTheRun() async throws {
    let database = try await Self.database()
    let pool = database.pool(size: 3)  // a lane runs on all connections but one
    defer { pool.close() }
    let sights = NIOLockedValueBox<[Sight]>([])
    // division_by_zero; read_only_sql_transaction.
    for (failing, state) in [("SELECT 1 / 0 AS never", "22012"), ("INSERT INTO seen VALUES (4)", "25006")] {
      for position in [0, 1, 3] {
        var looking = Self.lookingUnits(4, seconds: 0.05, into: sights)
        looking[position] = { connection in _ = try connection.query(failing) }
        let units = looking
        let error = await #expect(throws: RPCError.self) {
          try await pool.withSnapshotRead(scope: .nothing) { reads in try reads.run(units) }
        }
        #expect((error?.cause as? PostgresError)?.sqlState == state, "unit \(position): \(String(reflecting: error))")
      }
    }
    #expect(try await Self.seenRows(pool) == 2)
  }

  /// A call cancelled while only the helper's statement runs stops that statement too, rather
  /// than wait for it (up to the statement timeout) on two connections.
  @Test func cancellingTheCallStopsTheHelpersStatement() async throws {
    let database = try await Self.database()
    let pool = database.pool(size: 2)
    defer { pool.close() }
    let units: [@Sendable (PostgresConnection) throws -> Void] = [
      { connection in _ = try connection.query("SELECT pg_sleep(0.5)::text AS first") },
      { connection in _ = try connection.query("SELECT pg_sleep(60)::text AS helpers") },
    ]
    let read = Task { try await pool.withSnapshotRead(scope: .nothing) { reads in try reads.run(units) } }
    try await database.waitUntilRunning("pg_sleep(60)")
    try await Task.sleep(for: .milliseconds(700))  // the transaction's own unit has ended
    let (took, code) = await cancelAndWait(read)
    #expect(took < .seconds(20), "the call waited for the helper's statement (60 s)")
    #expect(code == .cancelled)
    // Both connections serve the next read.
    #expect(try await Self.seenRows(pool) == 2)
  }

  /// A snapshot id is quoted into SET TRANSACTION SNAPSHOT, so anything but pg_export_snapshot's
  /// hex digits and dashes is refused before it is sent.
  @Test func aSnapshotIdThatIsNotOneIsRefused() async throws {
    let database = try await Self.database()
    let pool = database.pool(size: 1)
    defer { pool.close() }
    for snapshot in ["", "00000003-0000001B-1'; DELETE FROM seen; --", "00000003 0000001B"] {
      let error = await #expect(throws: PostgresError.self) {
        try await pool.withConnection { connection in
          connection.begin(.snapshotRead(importing: snapshot))
          defer { connection.rollback() }
          _ = try connection.query("SELECT 1 AS one")
        }
      }
      #expect(error?.sqlState == "22023")
    }
  }
}
