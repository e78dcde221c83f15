import NIOConcurrencyHelpers
public import Prometheus
import TallyWire

/// What the server counts for Prometheus (deploy/README.md lists the series): each method's
/// calls by status and their durations, connections, and refused HELLOs.
///
/// No series names a tenant or a key: whoever scrapes the metrics learns how busy the server is,
/// not who uses it. A method the server does not serve is counted as `unknown`, so a client
/// cannot add series by making up method names.
public final class ServerMetrics: Sendable {
  public let registry: PrometheusCollectorRegistry
  private let methods: [String: MethodMetrics]
  private let unknownMethod: MethodMetrics
  let connectionsOpen: Gauge
  let connectionsAccepted: Counter
  let connectionsRefused: Counter
  let hellosRefused: Counter

  /// Durations from CALL to STATUS: from a ping (tens of µs) to a large tenant's dashboard (s).
  static let durationBuckets: [Duration] = [
    .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2.5),
    .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
    .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10), .seconds(30),
  ]

  /// `methodNames`: the methods the server serves (`Router.methodNames`); each gets its series.
  public init(methodNames: [String], registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
    self.registry = registry
    var methods: [String: MethodMetrics] = [:]
    for name in methodNames { methods[name] = MethodMetrics(method: name, registry: registry) }
    self.methods = methods
    self.unknownMethod = MethodMetrics(method: "unknown", registry: registry)
    self.connectionsOpen = registry.makeGauge(
      descriptor: .tally("connections_open", help: "Connections open now, from TCP accept to close."))
    self.connectionsAccepted = registry.makeCounter(
      descriptor: .tally("connections_accepted", unit: "total", help: "Connections accepted since the server started."))
    self.connectionsRefused = registry.makeCounter(
      descriptor: .tally(
        "connections_refused", unit: "total",
        help: "Connections closed at once: their address had max_handshakes_per_address handshakes in progress."))
    self.hellosRefused = registry.makeCounter(
      descriptor: .tally(
        "hellos_refused", unit: "total", help: "HELLOs refused: unknown, revoked or malformed API keys."))
  }

  /// The series of `method`; one shared `unknown` series for any name the server does not serve.
  func method(named name: String) -> MethodMetrics {
    self.methods[name] ?? self.unknownMethod
  }

  /// The text a Prometheus scrape reads (format 0.0.4).
  public func exposition() -> [UInt8] {
    self.registry.emitToBuffer()
  }
}

/// One method's calls by status code and their durations.
///
/// The counter of each code is made the first time a call ends with it: a method shows the codes
/// it has answered, not seventeen zeros.
final class MethodMetrics: Sendable {
  private let method: String
  private let registry: PrometheusCollectorRegistry
  private let calls: NIOLockedValueBox<[Int: Counter]>
  private let durations: DurationHistogram

  init(method: String, registry: PrometheusCollectorRegistry) {
    self.method = method
    self.registry = registry
    self.calls = NIOLockedValueBox([:])
    self.durations = registry.makeDurationHistogram(
      descriptor: .tally(
        "call_duration", unit: "seconds", help: "Time from a call's CALL frame to its STATUS, for calls the server ran."
      ),
      labels: [("method", method)], buckets: ServerMetrics.durationBuckets)
  }

  /// A call ended with `code`; `duration` is nil for one refused before it ran (unknown method,
  /// denied, over its tenant's rate or its connection's streams).
  func ended(_ code: RPCError.Code, after duration: Duration? = nil) {
    if let duration { self.durations.record(duration) }
    let counter = self.calls.withLockedValue { counters in
      if let counter = counters[code.rawValue] { return counter }
      let counter = self.registry.makeCounter(
        descriptor: .tally("calls", unit: "total", help: "Calls ended, by method and status code."),
        labels: [("method", self.method), ("code", code.description)])
      counters[code.rawValue] = counter
      return counter
    }
    counter.increment()
  }
}

extension MetricNameDescriptor {
  /// A series named `tally_NAME[_UNIT]`.
  public static func tally(_ name: String, unit: String = "", help: String) -> MetricNameDescriptor {
    MetricNameDescriptor(namespace: "tally", metricName: name, unitName: unit, helpText: help)
  }
}
