import Prometheus
import TallyServer
import TallyStore

/// The database pool's gauges, set from `PostgresPool.usage` when Prometheus scrapes.
struct DatabasePoolMetrics: Sendable {
  let pool: PostgresPool
  let busy: Gauge
  let idle: Gauge
  let queued: Gauge

  init(pool: PostgresPool, registry: PrometheusCollectorRegistry) {
    self.pool = pool
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
  }
}
