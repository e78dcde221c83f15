public import Foundation
import Histogram

/// One scenario's numbers, as a table for people and as JSON for docs/BENCHMARKS.md and CI.
public struct BenchReport: Codable, Sendable {
  public struct Latency: Codable, Sendable {
    public var p50: UInt64
    public var p90: UInt64
    public var p99: UInt64
    public var max: UInt64
  }

  public struct Server: Codable, Sendable {
    public var cpuSeconds: Double
    public var peakRSSBytes: UInt64
    public var rssBytes: UInt64

    /// Spelled so that snake_case JSON (`peak_rss_bytes`) reads back.
    enum CodingKeys: String, CodingKey {
      case cpuSeconds
      case peakRSSBytes = "peakRssBytes"
      case rssBytes
    }
  }

  public var scenario: String
  /// What `unitsPerSecond` counts: calls, events, answers.
  public var unit: String
  public var connections: Int
  public var concurrency: Int
  /// The measured run, from its start to the end of its last call: what the rates are over.
  public var durationSeconds: Double
  public var calls: UInt64
  public var errors: UInt64
  public var callsPerSecond: Double
  public var unitsPerSecond: Double
  /// Microseconds.
  public var latency: Latency
  public var server: Server?
  /// CPU seconds of the database (its postmaster and backends) during the run, with `--database-pid`.
  public var databaseCPUSeconds: Double?

  public init(
    scenario: String, unit: String, connections: Int, concurrency: Int, durationSeconds: Double,
    result: LoadRunner.Result, server: (ProcessStats, ProcessStats)?
  ) {
    self.scenario = scenario
    self.unit = unit
    self.connections = connections
    self.concurrency = concurrency
    self.durationSeconds = durationSeconds
    self.calls = result.calls
    self.errors = result.errors
    self.callsPerSecond = Double(result.calls) / durationSeconds
    self.unitsPerSecond = Double(result.units) / durationSeconds
    let histogram = result.latencies
    self.latency = Latency(
      p50: histogram.valueAtPercentile(50), p90: histogram.valueAtPercentile(90),
      p99: histogram.valueAtPercentile(99), max: histogram.max)
    if let (before, after) = server {
      self.server = Server(
        cpuSeconds: after.cpuSeconds - before.cpuSeconds, peakRSSBytes: after.peakRSS, rssBytes: after.rss)
    }
  }

  public var lines: [String] {
    var lines = [
      "\(self.scenario): \(self.connections) connection(s) × \(self.concurrency) in flight, "
        + String(format: "%.2f s", self.durationSeconds),
      String(format: "  %.0f calls/s", self.callsPerSecond)
        + (self.unit == "calls" ? "" : String(format: ", %.0f ", self.unitsPerSecond) + "\(self.unit)/s")
        + ", \(self.calls) calls, \(self.errors) errors",
      "  latency µs: p50 \(self.latency.p50)  p90 \(self.latency.p90)  p99 \(self.latency.p99)  max \(self.latency.max)",
    ]
    if let server {
      lines.append(
        String(
          format: "  server: %.2f CPU s (%.1f µs per call), peak RSS %.1f MB", server.cpuSeconds,
          self.calls > 0 ? server.cpuSeconds * 1e6 / Double(self.calls) : 0, Double(server.peakRSSBytes) / 1_048_576))
    }
    if let databaseCPUSeconds {
      let units = self.unitsPerSecond * self.durationSeconds
      lines.append(
        String(
          format: "  database: %.2f CPU s (%.1f µs per ", databaseCPUSeconds,
          units > 0 ? databaseCPUSeconds * 1e6 / units : 0)
          + "\(self.unit.dropLast(self.unit.hasSuffix("s") ? 1 : 0)))")
    }
    return lines
  }

  public func json() throws -> Data { try BenchJSON.encode(self) }
}
