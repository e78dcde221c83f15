import ArgumentParser
import BenchKit
import Foundation

/// `tally-bench results DIR`: the JSON files one `scripts/bench` run wrote, as the Markdown tables
/// of docs/BENCHMARKS.md, each scenario next to its baseline with their ratio and issue 7's target.
struct ResultsTable: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "results", abstract: "The JSON results of one scripts/bench run as Markdown tables.")
  @Argument(help: "The directory scripts/bench wrote (BENCH_OUT, default bench-results/full).") var directory: String

  func run() throws {
    for line in try self.lines() { print(line) }
  }

  func lines() throws -> [String] {
    var lines = [
      "| scenario | shape | Tally | baseline | Tally ÷ baseline | p50 / p99 (µs) | target |",
      "|---|---|---|---|---|---|---|",
    ]
    for shape in ["1x1", "2x8", "1x64", "4x16"] {
      guard let ping = try self.report("ping-\(shape)") else { continue }
      let shown = shape.replacingOccurrences(of: "x", with: " × ")
      for (name, file) in [("NIO echo", "echo-ping-\(shape)"), ("grpc-swift-2", "grpc-ping-\(shape)")] {
        guard let baseline = try self.report(file) else { continue }
        lines.append(
          "| ping vs \(name) | \(shown) | \(Self.rate(ping.callsPerSecond)) calls/s | "
            + "\(Self.rate(baseline.callsPerSecond)) calls/s | "
            + String(format: "%.2f", ping.callsPerSecond / baseline.callsPerSecond)
            + " | \(Self.latency(ping)) vs \(Self.latency(baseline)) | \(Self.pingTarget(name, shape)) |")
      }
    }
    if let kpi = try self.report("kpi"), let sql = try self.report("kpi-sql") {
      lines.append(
        "| kpi (largest tenant) vs its SQL through psql | 1 × 1 | \(Self.rate(kpi.callsPerSecond)) calls/s | "
          + "\(Self.rate(sql.callsPerSecond)) calls/s | "
          + String(
            format: "p50 %.2f×, p99 %.2f×", Double(kpi.latency.p50) / Double(max(sql.latency.p50, 1)),
            Double(kpi.latency.p99) / Double(max(sql.latency.p99, 1)))
          + " | \(Self.latency(kpi)) vs \(Self.latency(sql)) | p99 ≤ 50 ms and ≤ 1.5 × the SQL |")
    }
    var notes: [String] = []
    let ingestRuns = try self.ingestPairs()
    if let pairs = AlternatingPairs(
      scenario: ingestRuns.map(\.ingest.unitsPerSecond), baseline: ingestRuns.map(\.copy.eventsPerSecond))
    {
      let (ingest, copy) = ingestRuns[pairs.medianIndex]
      lines.append(
        "| ingest vs psql \\copy | \(ingest.connections) × \(ingest.concurrency) | "
          + "\(Self.rate(ingest.unitsPerSecond)) events/s | \(Self.rate(copy.eventsPerSecond)) events/s | "
          + String(format: "%.2f", pairs.median)
          + " | \(Self.latency(ingest)) per stream | ≥ 100,000 events/s and ≥ 0.70 |")
      if pairs.ratios.count > 1 {
        notes.append(
          "Ingest and `\\copy` ran by turns \(pairs.ratios.count) times; the row is the pair of the median "
            + "ratio. Each pair, in order: "
            + zip(ingestRuns, pairs.ratios).map {
              "\(Self.rate($0.ingest.unitsPerSecond)) ÷ \(Self.rate($0.copy.eventsPerSecond)) = "
                + String(format: "%.2f", $1)
            }.joined(separator: ", ") + ".")
      }
    }
    for name in ["submit", "submit-4x16"] {
      guard let submit = try self.report(name) else { continue }
      lines.append(
        "| submit | \(submit.connections) × \(submit.concurrency) | \(Self.rate(submit.unitsPerSecond)) answers/s | "
          + "— | — | \(Self.latency(submit)) | ≥ 5,000 answers/s |")
    }
    if let idle = try self.decode(IdleScenario.Result.self, "idle") {
      lines.append(
        "| idle connections (server RSS) | \(idle.connections) × 0 | "
          + String(format: "%.1f KB per connection", idle.bytesPerConnection / 1_024)
          + " | — | — | — | ≤ 50 KB per connection |")
    }
    if let seed = try self.decode(SeedCommand.Summary.self, "seed") {
      notes.insert(
        "Seed: \(seed.tenants) tenants, \(seed.accounts) accounts, \(seed.events) events and \(seed.surveyAnswers) "
          + String(
            format: "survey answers in %.0f s (%.0f events/s with everything else); ", seed.seconds,
            seed.eventsPerSecond)
          + "the largest tenant has \(seed.largestTenantAccounts) accounts and \(seed.largestTenantEvents) events.",
        at: 0)
    }
    let failed = try self.failedCalls()
    if !failed.isEmpty {
      notes.append(
        "Calls that failed, left out of the rates and latencies above: "
          + failed.map { "\($0.name) \($0.errors) of \($0.errors + $0.calls)" }.joined(separator: ", ") + ".")
    }
    for note in notes { lines += ["", note] }
    return lines
  }

  /// Every report of the directory with failed calls.
  func failedCalls() throws -> [(name: String, errors: UInt64, calls: UInt64)] {
    let names = try FileManager.default.contentsOfDirectory(atPath: self.directory).filter { $0.hasSuffix(".json") }
    return names.sorted().compactMap { file in
      let name = String(file.dropLast(5))
      guard let report = try? self.report(name), report.errors > 0 else { return nil }
      return (name, report.errors, report.calls)
    }
  }

  /// `ingest-N.json` and `copy-N.json` from N = 1 while both exist (scripts/bench runs them by
  /// turns), or the single `ingest.json` and `copy.json` of runs before it did.
  func ingestPairs() throws -> [(ingest: BenchReport, copy: CopyBaseline.Result)] {
    var pairs: [(ingest: BenchReport, copy: CopyBaseline.Result)] = []
    while let ingest = try self.report("ingest-\(pairs.count + 1)"),
      let copy = try self.decode(CopyBaseline.Result.self, "copy-\(pairs.count + 1)")
    {
      pairs.append((ingest, copy))
    }
    if pairs.isEmpty, let ingest = try self.report("ingest"),
      let copy = try self.decode(CopyBaseline.Result.self, "copy")
    {
      pairs.append((ingest, copy))
    }
    return pairs
  }

  static func pingTarget(_ baseline: String, _ shape: String) -> String {
    switch (baseline, shape) {
    case ("NIO echo", "1x64"), ("NIO echo", "4x16"): "≥ 0.50" + (shape == "1x64" ? "; p99 ≤ 2,000 µs" : "")
    case ("grpc-swift-2", "1x64"), ("grpc-swift-2", "4x16"): "≥ 10"
    case ("NIO echo", "1x1"): "p50 ≤ 150 µs"
    default: "—"
    }
  }

  static func rate(_ value: Double) -> String {
    let formatter = NumberFormatter()
    formatter.numberStyle = .decimal
    formatter.maximumFractionDigits = value < 10 ? 1 : 0
    return formatter.string(from: NSNumber(value: value)) ?? String(value)
  }

  static func latency(_ report: BenchReport) -> String {
    "\(report.latency.p50) / \(report.latency.p99)"
  }

  func report(_ name: String) throws -> BenchReport? { try self.decode(BenchReport.self, name) }

  func decode<T: Decodable>(_ type: T.Type, _ name: String) throws -> T? {
    let url = URL(fileURLWithPath: self.directory).appendingPathComponent("\(name).json")
    guard FileManager.default.fileExists(atPath: url.path) else { return nil }
    return try BenchJSON.read(T.self, from: url)
  }
}
