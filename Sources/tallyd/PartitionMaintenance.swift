import Logging
import ServiceLifecycle
import TallyStore

/// Keeps the monthly event partitions three months ahead, so ingestion at a month's turn never
/// waits on DDL. Runs at start and every twelve hours.
struct PartitionMaintenance: Service {
  let pool: PostgresPool
  let logger: Logger
  var interval: Duration = .seconds(12 * 3600)

  func run() async throws {
    while !Task.isCancelled && !Task.isShuttingDownGracefully {
      do {
        let created = try await self.pool.withTransaction(tenant: nil) { connection in
          try connection.query(
            """
            SELECT ensure_event_partitions(date_trunc('month', now())::date,
              (date_trunc('month', now()) + interval '3 months')::date) AS created
            """
          ).rows[0].require(Int.self, "created")
        }
        if created > 0 { self.logger.info("created event partitions", metadata: ["count": "\(created)"]) }
      } catch {
        self.logger.warning("could not create event partitions; retrying later", metadata: ["error": "\(error)"])
      }
      // Graceful shutdown ends the wait at once instead of holding the group for hours.
      try? await cancelWhenGracefulShutdown { try await Task.sleep(for: self.interval) }
    }
  }
}
