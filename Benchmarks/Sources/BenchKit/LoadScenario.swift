import ArgumentParser
import Foundation

/// What every scenario does around its calls: warm up, read the server's /proc before and after
/// the measured run, report. The clients are connected by the caller, before the clock starts.
public enum LoadScenario {
  /// `call` returns how many units (calls, events, answers) it carried.
  public static func measure<Client: Sendable>(
    _ name: String, unit: String = "calls", options: LoadOptions, clients: [Client],
    executor: @Sendable (Client) -> (any TaskExecutor)? = { _ in nil },
    _ call: @escaping @Sendable (Client) async throws -> UInt64
  ) async throws -> BenchReport {
    if options.warmup > 0 {
      _ = await LoadRunner(concurrency: options.concurrency, duration: Self.duration(options.warmup))
        .run(clients: clients, executor: executor, call)
    }
    if let pid = options.serverPid, !ProcessStats.resetPeak(pid: pid) {
      FileHandle.standardError.write(
        Data("\(name): could not reset the server's peak RSS; it is since its start\n".utf8))
    }
    let before = options.serverPid.flatMap(ProcessStats.read)
    let databaseBefore = options.databasePid.flatMap { ProcessStats.treeCPUSeconds(root: $0) }
    let result = await LoadRunner(concurrency: options.concurrency, duration: Self.duration(options.duration))
      .run(clients: clients, executor: executor, call)
    let after = options.serverPid.flatMap(ProcessStats.read)
    let databaseAfter = options.databasePid.flatMap { ProcessStats.treeCPUSeconds(root: $0) }
    if result.calls == 0 { throw ValidationError("no call succeeded: \(result.firstError)") }
    // Failed calls are in neither the rate nor the latencies: said where people look.
    if result.errors > 0 {
      FileHandle.standardError.write(
        Data("\(name): \(result.errors) calls failed, left out of the numbers (first: \(result.firstError))\n".utf8))
    }
    let server = before.flatMap { before in after.map { (before, $0) } }
    var report = BenchReport(
      scenario: name, unit: unit, connections: options.connections, concurrency: options.concurrency,
      durationSeconds: result.elapsed.seconds, result: result, server: server)
    report.databaseCPUSeconds = databaseBefore.flatMap { before in databaseAfter.map { $0 - before } }
    return report
  }

  static func duration(_ seconds: Double) -> Duration { .milliseconds(Int(seconds * 1_000)) }

  /// Prints the report and, with `--json`, writes it.
  public static func emit(_ report: BenchReport, json: String?) throws {
    for line in report.lines { print(line) }
    if let json { try report.json().write(to: URL(fileURLWithPath: json)) }
  }
}
