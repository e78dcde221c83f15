import Foundation
import NIOConcurrencyHelpers
import TallyStore
import TallyTestSupport
import TallyWire
import Testing

/// A task's `TransactionMark` rides with the BEGIN of each of its read-write transactions and
/// commits or rolls back with it; reads and other tasks' transactions carry none.
@Suite struct TransactionMarkTests {
  @Test func aMarkCommitsAndRollsBackWithItsTransaction() async throws {
    let database = try await TestDatabase.create(migrated: false)
    let (pool, sent) = try await TransactionPipelineTests.recordingPool(database)
    defer { pool.close() }
    // A temporary table lives on the pool's one connection, which every transaction below uses.
    try await pool.withConnection { try $0.execute("CREATE TEMPORARY TABLE marks (call text)") }
    sent.withLockedValue { $0 = [] }
    let mark = TransactionMark(
      setting: ("tally.call_id", "c1"),
      statement: "INSERT INTO pg_temp.marks VALUES (current_setting('tally.call_id'))")
    let marks = { @Sendable in
      try await pool.withConnection { connection in
        try connection.query("SELECT count(*)::int8 AS n FROM pg_temp.marks").rows[0].require(Int64.self, "n")
      }
    }

    let seen = try await TransactionMark.$current.withValue(mark) {
      try await pool.withTransaction(tenant: nil) { connection in
        try connection.query("SELECT count(*)::int8 AS n FROM pg_temp.marks").rows[0].require(Int64.self, "n")
      }
    }
    #expect(seen == 1, "the mark runs before the transaction's first statement")
    #expect(sent.withLockedValue { $0 }.map { $0.sql.prefix(6) } == ["BEGIN", "SELECT", "INSERT", "SELECT", "COMMIT"])
    #expect(try await marks() == 1)

    await #expect(throws: (any Error).self) {
      try await TransactionMark.$current.withValue(mark) {
        try await pool.withTransaction(tenant: nil) { connection in
          try connection.query("SELECT 1/0")
        }
      }
    }
    #expect(try await marks() == 1, "a transaction that failed left its mark behind")

    try await TransactionMark.$current.withValue(mark) {
      try await pool.withSnapshotRead(scope: .nothing) { reads in try reads.connection.query("SELECT 1") }
      try await pool.withTransaction(tenant: nil) { _ in }  // sends nothing, so marks nothing
    }
    try await pool.withTransaction(tenant: nil) { try $0.query("SELECT 1") }
    #expect(try await marks() == 1, "a read, an empty transaction or one outside the mark's task marked")
  }
}
