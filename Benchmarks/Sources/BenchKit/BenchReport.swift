import Foundation
import Histogram

/// One scenario's numbers, as a table for people and as JSON for docs/BENCHMARKS.md and CI.
struct BenchReport: Encodable {
  struct Latency: Encodable {
    var p50: UInt64
    var p90: UInt64
    var p99: UInt64
    var max: UInt64
  }

  struct Server: Encodable {
    var cpuSeconds: Double
    var peakRSSBytes: UInt64
    var rssBytes: UInt64
  }

  var scenario: String
  var connections: Int
  var concurrency: Int
  var durationSeconds: Double
  var calls: UInt64
  var errors: UInt64
  var callsPerSecond: Double
  var unitsPerSecond: Double
  /// Microseconds.
  var latency: Latency
  var server: Server?

  init(
    scenario: String, options: BenchOptions, result: LoadRunner.Result, server: (ProcessStats, ProcessStats)?
  ) {
    self.scenario = scenario
    self.connections = options.connections
    self.concurrency = options.concurrency
    self.durationSeconds = options.duration
    self.calls = result.calls
    self.errors = result.errors
    self.callsPerSecond = Double(result.calls) / options.duration
    self.unitsPerSecond = Double(result.units) / options.duration
    let histogram = result.latencies
    self.latency = Latency(
      p50: histogram.valueAtPercentile(50), p90: histogram.valueAtPercentile(90),
      p99: histogram.valueAtPercentile(99), max: histogram.max)
    if let (before, after) = server {
      self.server = Server(
        cpuSeconds: after.cpuSeconds - before.cpuSeconds, peakRSSBytes: after.peakRSS, rssBytes: after.rss)
    }
  }

  var lines: [String] {
    var lines = [
      "\(self.scenario): \(self.connections) connection(s) × \(self.concurrency) in flight, \(self.durationSeconds) s",
      String(
        format: "  %.0f calls/s, %.0f units/s, %llu calls, %llu errors", self.callsPerSecond, self.unitsPerSecond,
        self.calls, self.errors),
      "  latency µs: p50 \(self.latency.p50)  p90 \(self.latency.p90)  p99 \(self.latency.p99)  max \(self.latency.max)",
    ]
    if let server {
      lines.append(
        String(
          format: "  server: %.2f CPU s (%.1f µs per call), peak RSS %.1f MB", server.cpuSeconds,
          self.calls > 0 ? server.cpuSeconds * 1e6 / Double(self.calls) : 0, Double(server.peakRSSBytes) / 1_048_576))
    }
    return lines
  }

  func json() throws -> Data {
    let encoder = JSONEncoder()
    encoder.keyEncodingStrategy = .convertToSnakeCase
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    return try encoder.encode(self)
  }
}
