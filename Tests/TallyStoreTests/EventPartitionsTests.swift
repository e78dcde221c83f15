import Foundation
import TallyStore
import TallyTestSupport
import TallyWire
import Testing

/// `ensure_event_partitions` (migrations 0025, 0026): months made once, whoever asks at once.
@Suite struct EventPartitionsTests {
  /// The second caller waits for the first's lock, then finds the first's month made: it makes
  /// nothing, and does not fail trying to make it again (42P07, which reached clients as INTERNAL).
  @Test func twoCallersMakingTheSameMonthAtOnceBothSucceed() async throws {
    let database = try await TestDatabase.create(migrated: true)
    let pool = database.pool(size: 1)
    defer { pool.close() }
    let ensure = "SELECT ensure_event_partitions('2003-03-01'::date, '2003-03-01'::date) AS made"
    let first = try PostgresConnection(conninfo: database.appURL)
    try first.execute("BEGIN")
    #expect(try first.query(ensure).rows[0].require(Int.self, "made") == 1)
    let second = Task {
      try await pool.withTransaction(tenant: nil) { try $0.query(ensure).rows[0].require(Int.self, "made") }
    }
    let waiting = try await waitUntilALockIsAwaited(in: database.appURL)
    #expect(waiting, "the second caller never waited for the first")
    try first.execute("COMMIT")
    #expect(try await second.value == 0)
    let partitions = try first.query(
      "SELECT count(*) AS n FROM pg_inherits WHERE inhrelid = 'events_2003_03'::regclass AND inhparent = 'events'::regclass"
    )
    #expect(try partitions.rows[0].require(Int.self, "n") == 1)
  }
}
