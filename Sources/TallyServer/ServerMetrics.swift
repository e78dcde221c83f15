import NIOCore
public import Prometheus
public import TallyCore
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
  /// Every method's series, in the order they are written out.
  private let methodsInOrder: [MethodMetrics]
  /// Where calls of methods the server does not serve are counted.
  let unknownMethod: MethodMetrics
  let connectionsOpen: Gauge
  let connectionsAccepted: Counter
  let connectionsRefused: Counter
  let hellosRefused: Counter

  /// `methodNames`: the methods the server serves (`Router.methodNames`); each gets its series.
  public init(methodNames: [String], registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
    self.registry = registry
    self.methodsInOrder = (methodNames.sorted() + ["unknown"]).map(MethodMetrics.init(method:))
    self.unknownMethod = self.methodsInOrder[self.methodsInOrder.count - 1]
    self.methods = Dictionary(uniqueKeysWithValues: self.methodsInOrder.dropLast().map { ($0.method, $0) })
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

  /// The text a Prometheus scrape reads (format 0.0.4): the registry's series, then the calls'.
  public func exposition() -> [UInt8] {
    var text = self.registry.emitToBuffer()
    MethodMetrics.writeCalls(self.methodsInOrder, into: &text)
    return text
  }
}

extension MetricNameDescriptor {
  /// A series named `tally_NAME[_UNIT]`.
  public static func tally(_ name: String, unit: String = "", help: String) -> MetricNameDescriptor {
    MetricNameDescriptor(namespace: "tally", metricName: name, unitName: unit, helpText: help)
  }
}

extension IngestCounters {
  /// `tally_events_total{outcome}`: the events RecordEvents stored, found repeated, and rejected.
  public init(registry: PrometheusCollectorRegistry) {
    let events = MetricNameDescriptor.tally(
      "events", unit: "total",
      help: "Events sent to RecordEvents: stored, not stored again (key seen before) or rejected by validation.")
    self.init(
      stored: registry.makeCounter(descriptor: events, labels: [("outcome", "stored")]),
      duplicates: registry.makeCounter(descriptor: events, labels: [("outcome", "duplicate")]),
      rejected: registry.makeCounter(descriptor: events, labels: [("outcome", "rejected")]))
  }
}
