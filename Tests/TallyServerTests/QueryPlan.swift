import Foundation
import TallyStore
import TallyTestSupport

/// The plans of KPI queries on a fresh, empty database, for tests that check which index a query
/// reads and how it is bounded.
enum QueryPlan {
  /// The EXPLAIN lines of `sql` with `parameters`, run under a random tenant after `ownerSetup`
  /// (SQL run as the owner, such as creating partitions). Sequential and bitmap scans are off:
  /// the tables are empty, and the question is what the index scans can do.
  static func explain(
    _ sql: String, _ parameters: [(any PostgresBindable)?], ownerSetup: String? = nil
  ) async throws -> [String] {
    let database = try await TestDatabase.create()
    if let ownerSetup {
      let owner = try PostgresConnection(conninfo: database.ownerURL)
      defer { owner.close() }
      try owner.query(ownerSetup)
    }
    let pool = database.pool()
    defer { pool.close() }
    return try await pool.withTransaction(tenant: UUID().uuidString.lowercased()) { connection in
      try connection.execute("SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off")
      return try Self.lines(sql, parameters, on: connection)
    }
  }

  /// The EXPLAIN lines of `sql` with `parameters` on `connection`, inside its transaction.
  static func lines(
    _ sql: String, _ parameters: [(any PostgresBindable)?], on connection: PostgresConnection
  ) throws -> [String] {
    try connection.query("EXPLAIN " + sql, parameters).rows.map { try $0.require(String.self, "QUERY PLAN") }
  }
}
