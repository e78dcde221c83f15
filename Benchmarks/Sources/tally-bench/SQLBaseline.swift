import ArgumentParser
import BenchKit
import Foundation

/// `tally-bench sql-baseline`: the ceiling for the KPI call. Runs a `tallyd kpi-sql` script through
/// psql, which replays the call's statements with `\timing on`, and sums each replay's `Time:` lines:
/// what PostgreSQL and the socket take for the same SQL with nothing of Tally's around it.
struct SQLBaseline: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "sql-baseline", abstract: "Time a tallyd kpi-sql script's replays through psql (the kpi baseline).")
  @Option(help: "The script `tallyd kpi-sql` printed.") var script: String
  @Option(help: "The database URL to run it with (the server's role).") var databaseURL: String
  @Option(help: "Replays not counted, from the start (plans and caches warm up).") var skip = 2
  @Option(help: "Also write the result as JSON to this file.") var json: String?

  func run() async throws {
    let text = try Psql.run(self.databaseURL, ["-f", self.script], running: self.script)
    let replays = Array(Self.replayMicroseconds(text).dropFirst(self.skip))
    guard !replays.isEmpty else { throw ValidationError("the script's output had no timed replay") }
    var result = LoadRunner.Result()
    for micros in replays { result.record(units: 1, micros: Int64(micros)) }
    let report = BenchReport(
      scenario: "kpi sql", unit: "calls", connections: 1, concurrency: 1,
      durationSeconds: Double(replays.reduce(0, +)) / 1e6, result: result, server: nil)
    try LoadScenario.emit(report, json: self.json)
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
