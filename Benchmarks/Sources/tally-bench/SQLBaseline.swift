import ArgumentParser
import BenchKit
import Foundation

/// `tally-bench sql-baseline`: the ceiling for the KPI call. Runs a `tallyd kpi-sql` script through
/// psql, which replays the call's statements with `\timing on`, and sums each replay's `Time:` lines:
/// what PostgreSQL and the socket take for the same SQL with nothing of Tally's around it. With the
/// second connection's script as well, both run at once, as the server runs the call on two
/// connections, and a replay takes the longer of its two sums.
struct SQLBaseline: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "sql-baseline", abstract: "Time a tallyd kpi-sql script's replays through psql (the kpi baseline).")
  @Option(help: "The script `tallyd kpi-sql` printed.") var script: String
  @Option(help: "The script of the call's second connection (`tallyd kpi-sql --helper-script`).")
  var helperScript: String?
  @Option(help: "The database URL to run it with (the server's role).") var databaseURL: String
  @Option(help: "Replays not counted, from the start (plans and caches warm up).") var skip = 2
  @Option(help: "Also write the result as JSON to this file.") var json: String?

  func run() async throws {
    let scripts = [self.script] + (self.helperScript.map { [$0] } ?? [])
    let url = self.databaseURL
    let outputs = try await withThrowingTaskGroup(of: (Int, String).self) { group in
      for (index, script) in scripts.enumerated() {
        group.addTask { (index, try await Self.psql(url, script)) }
      }
      return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
    }
    let timings = scripts.indices.map { Self.replayMicroseconds(outputs[$0] ?? "") }
    let replays = Array(Self.longest(timings).dropFirst(self.skip))
    guard !replays.isEmpty else { throw ValidationError("the script's output had no timed replay") }
    var result = LoadRunner.Result()
    for micros in replays { result.record(units: 1, micros: Int64(micros)) }
    let report = BenchReport(
      scenario: "kpi sql", unit: "calls", connections: 1, concurrency: 1,
      durationSeconds: Double(replays.reduce(0, +)) / 1e6, result: result, server: nil)
    try LoadScenario.emit(report, json: self.json)
    if timings.count > 1 {
      // How evenly the recorded call split its statements: each session's median replay alone.
      let medians = timings.map { session -> String in
        let counted = session.dropFirst(self.skip).sorted()
        return counted.isEmpty ? "-" : String(format: "%.1f ms", Double(counted[counted.count / 2]) / 1_000)
      }
      print("  sessions' median replays: \(medians.joined(separator: " and "))")
    }
  }

  /// psql on its own thread: the two sessions of a replay run at the same time.
  static func psql(_ url: String, _ script: String) async throws -> String {
    try await withCheckedThrowingContinuation { continuation in
      DispatchQueue.global().async {
        continuation.resume(with: Result { try Psql.run(url, ["-f", script], running: script) })
      }
    }
  }

  /// Replay by replay, the longest of the sessions' totals; as many replays as every session has.
  static func longest(_ sessions: [[UInt64]]) -> [UInt64] {
    let count = sessions.map(\.count).min() ?? 0
    return (0..<count).map { replay in sessions.map { $0[replay] }.max() ?? 0 }
  }

  /// Each replay's total in microseconds: the `Time: 1.234 ms` lines after each `iteration` line.
  static func replayMicroseconds(_ output: String) -> [UInt64] {
    var totals: [Double] = []
    for line in output.split(separator: "\n") {
      if line == "iteration" {
        totals.append(0)
      } else if line.hasPrefix("Time: "), !totals.isEmpty,
        let milliseconds = Double(line.dropFirst(6).prefix { $0 != " " })
      {
        totals[totals.count - 1] += milliseconds
      }
    }
    return totals.map { UInt64(($0 * 1_000).rounded()) }
  }
}
