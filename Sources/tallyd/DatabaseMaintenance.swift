import Logging
import ServiceLifecycle
import TallyStore

/// The database's own upkeep, at start and every hour: the monthly event partitions kept three
/// months ahead (so ingestion at a month's turn never waits on DDL), and the idempotency results
/// past their 24 hours removed for every tenant (a tenant's own claims remove only its own).
struct DatabaseMaintenance: Service {
  let pool: PostgresPool
  let logger: Logger
  var interval: Duration = .seconds(3600)

  func run() async throws {
    while !Task.isCancelled && !Task.isShuttingDownGracefully {
      await self.pass(
        "create event partitions",
        """
        SELECT ensure_event_partitions(date_trunc('month', now())::date,
          (date_trunc('month', now()) + interval '3 months')::date)::int8 AS count
        """, done: "created event partitions")
      await self.pass(
        "remove expired idempotency results", "SELECT purge_expired_call_results() AS count",
        done: "removed expired idempotency results")
      // Graceful shutdown ends the wait at once instead of holding the group for an hour.
      try? await cancelWhenGracefulShutdown { try await Task.sleep(for: self.interval) }
    }
  }

  /// Runs one task's statement, which answers how many things it did; a failure waits for the next pass.
  private func pass(_ task: String, _ sql: String, done: String) async {
    do {
      let count = try await self.pool.withTransaction(tenant: nil) { connection in
        try connection.query(sql).rows[0].require(Int64.self, "count")
      }
      if count > 0 { self.logger.info("\(done)", metadata: ["count": "\(count)"]) }
    } catch {
      self.logger.warning("could not \(task); retrying at the next pass", metadata: ["error": "\(error)"])
    }
  }
}
