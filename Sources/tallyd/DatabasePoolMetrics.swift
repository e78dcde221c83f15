import Prometheus
import TallyCore
import TallyServer
import TallyStore

/// The database pool's gauges, set from `PostgresPool.usage` when Prometheus scrapes, and whether
/// the key-change feed listens (while it does not, revocations wait for the 2 s re-check).
struct DatabasePoolMetrics: Sendable {
  let pool: PostgresPool
  let busy: Gauge
  let idle: Gauge
  let queued: Gauge
  let keyChanges: KeyChangeFeed?
  let keyChangesListening: Gauge

  init(pool: PostgresPool, registry: PrometheusCollectorRegistry, keyChanges: KeyChangeFeed?) {
    self.pool = pool
    self.keyChanges = keyChanges
    self.keyChangesListening = registry.makeGauge(
      descriptor: .tally(
        "key_changes_listening",
        help: "1 while the connection that hears key revocations and tenant suspensions listens, else 0."))
    let connections = MetricNameDescriptor.tally(
      "database_connections",
      help: "The database pool's connections, running a job (or reconnecting) or waiting for one.")
    self.busy = registry.makeGauge(descriptor: connections, labels: [("state", "busy")])
    self.idle = registry.makeGauge(descriptor: connections, labels: [("state", "idle")])
    self.queued = registry.makeGauge(
      descriptor: .tally(
        "database_queued_jobs",
        help: "Database work (calls', HELLOs', timers') waiting for a free connection of the pool."))
  }

  func update() {
    let usage = self.pool.usage
    self.busy.set(to: Double(usage.busy))
    self.idle.set(to: Double(usage.size - usage.busy))
    self.queued.set(to: Double(usage.queued))
    self.keyChangesListening.set(to: self.keyChanges?.listener.isListening == true ? 1 : 0)
  }
}
