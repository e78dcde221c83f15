import Atomics
import NIOCore
import TallyWire

/// One method's calls: how many ended with each status code, and how long those that ran took.
///
/// Relaxed atomics that a call adds to without a lock. The Prometheus package's histogram takes a
/// lock and writes every bucket for each value: with it, ping at 4 × 16 lost 4 % of its calls per
/// second, against 2 % for these (docs/BENCHMARKS.md, "Metrics: what counting costs a call").
final class MethodMetrics: Sendable {
  let method: String
  /// Indexed by status code (0 to 16).
  private let codes: [ManagedAtomic<Int>]
  /// Calls per duration bucket, not cumulative: the last one is past `bucketBounds`.
  private let buckets: [ManagedAtomic<Int>]
  private let nanoseconds = ManagedAtomic<Int>(0)

  /// Upper bounds of the duration buckets: from a ping (tens of µs) to a large dashboard (s).
  static let bucketBounds: [(nanoseconds: Int64, label: String)] = [
    (100_000, "0.0001"), (250_000, "0.00025"), (500_000, "0.0005"), (1_000_000, "0.001"), (2_500_000, "0.0025"),
    (5_000_000, "0.005"), (10_000_000, "0.01"), (25_000_000, "0.025"), (50_000_000, "0.05"),
    (100_000_000, "0.1"), (250_000_000, "0.25"), (500_000_000, "0.5"), (1_000_000_000, "1"),
    (2_500_000_000, "2.5"), (5_000_000_000, "5"), (10_000_000_000, "10"), (30_000_000_000, "30"),
  ]
  private static let codeCount = 17

  init(method: String) {
    self.method = method
    self.codes = (0..<Self.codeCount).map { _ in ManagedAtomic(0) }
    self.buckets = (0...Self.bucketBounds.count).map { _ in ManagedAtomic(0) }
  }

  /// A call ended with `code`; `duration` is nil for one refused before it ran (unknown method,
  /// denied, over its tenant's rate or its connection's streams).
  func ended(_ code: RPCError.Code, after duration: TimeAmount? = nil) {
    let index = (0..<Self.codeCount).contains(code.rawValue) ? code.rawValue : RPCError.Code.unknown.rawValue
    self.codes[index].wrappingIncrement(ordering: .relaxed)
    guard let duration else { return }
    let nanoseconds = max(0, duration.nanoseconds)
    self.buckets[Self.bucket(of: nanoseconds)].wrappingIncrement(ordering: .relaxed)
    self.nanoseconds.wrappingIncrement(by: Int(nanoseconds), ordering: .relaxed)
  }

  /// The first bucket whose bound holds `nanoseconds` (Prometheus's `le`), by binary search.
  static func bucket(of nanoseconds: Int64) -> Int {
    var (low, high) = (0, Self.bucketBounds.count)
    while low < high {
      let middle = (low + high) / 2
      if Self.bucketBounds[middle].nanoseconds < nanoseconds { low = middle + 1 } else { high = middle }
    }
    return low
  }

  /// `tally_calls_total` and `tally_call_duration_seconds` of every method that has had a call.
  static func writeCalls(_ methods: [MethodMetrics], into text: inout [UInt8]) {
    let snapshots = methods.map { ($0.method, $0.snapshot()) }.filter { $0.1.codes.contains { $0 > 0 } }
    var lines = "# HELP tally_calls_total Calls ended, by method and status code.\n"
    lines += "# TYPE tally_calls_total counter\n"
    for (method, snapshot) in snapshots {
      for (code, count) in snapshot.codes.enumerated() where count > 0 {
        lines += "tally_calls_total{method=\"\(method)\",code=\"\(RPCError.Code(rawValue: code))\"} \(count)\n"
      }
    }
    lines +=
      "# HELP tally_call_duration_seconds Time from a call's CALL frame to its STATUS, for calls the server ran.\n"
    lines += "# TYPE tally_call_duration_seconds histogram\n"
    for (method, snapshot) in snapshots {
      var cumulative = 0
      for (index, count) in snapshot.buckets.enumerated() {
        cumulative += count
        let bound = index < Self.bucketBounds.count ? Self.bucketBounds[index].label : "+Inf"
        lines += "tally_call_duration_seconds_bucket{method=\"\(method)\",le=\"\(bound)\"} \(cumulative)\n"
      }
      lines += "tally_call_duration_seconds_sum{method=\"\(method)\"} \(Double(snapshot.nanoseconds) / 1e9)\n"
      lines += "tally_call_duration_seconds_count{method=\"\(method)\"} \(cumulative)\n"
    }
    text.append(contentsOf: lines.utf8)
  }

  private func snapshot() -> (codes: [Int], buckets: [Int], nanoseconds: Int) {
    (
      self.codes.map { $0.load(ordering: .relaxed) }, self.buckets.map { $0.load(ordering: .relaxed) },
      self.nanoseconds.load(ordering: .relaxed)
    )
  }
}
