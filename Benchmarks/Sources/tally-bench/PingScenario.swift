import ArgumentParser
import Foundation
import TallyClient
import TallyProto
import TallyWire

/// `tally-bench ping`: unary Ping with a fixed payload, the transport's cost per call.
struct PingScenario: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "ping", abstract: "Unary SystemService/Ping with a 64-byte payload (--payload to change it).")
  @OptionGroup var options: BenchOptions
  @Option(help: "Payload bytes.") var payload = 64

  func run() async throws {
    var request = Tally_V1_PingRequest()
    request.payload = Data((0..<self.payload).map { UInt8(truncatingIfNeeded: $0) })
    let message = request
    let report = try await Scenario.run("ping", self.options) { client in
      _ = try await client.unary(SystemMethods.ping, message)
      return 1
    }
    try Scenario.print(report, self.options)
  }
}

/// What every scenario does around its calls: connect, warm up, read the server's /proc before and
/// after the measured run, report.
enum Scenario {
  static func run(
    _ name: String, _ options: BenchOptions, _ call: @escaping @Sendable (TallyClient) async throws -> UInt64
  ) async throws -> BenchReport {
    let configuration = try options.configuration(clientName: "tally-bench")
    let clients = try (0..<options.connections).map { _ in try TallyClient(configuration: configuration) }
    // Connect every client before the clock starts.
    for client in clients { _ = try await client.unary(SystemMethods.ping, Tally_V1_PingRequest()) }
    if options.warmup > 0 {
      _ = await LoadRunner(concurrency: options.concurrency, duration: Self.duration(options.warmup))
        .run(clients: clients, call)
    }
    let before = options.serverPid.flatMap(ProcessStats.read)
    let result = await LoadRunner(concurrency: options.concurrency, duration: Self.duration(options.duration))
      .run(clients: clients, call)
    let after = options.serverPid.flatMap(ProcessStats.read)
    for client in clients { await client.close() }
    if result.calls == 0 { throw ValidationError("no call succeeded: \(result.firstError)") }
    let server = before.flatMap { before in after.map { (before, $0) } }
    return BenchReport(scenario: name, options: options, result: result, server: server)
  }

  static func duration(_ seconds: Double) -> Duration { .milliseconds(Int(seconds * 1_000)) }

  static func print(_ report: BenchReport, _ options: BenchOptions) throws {
    for line in report.lines { Swift.print(line) }
    if let path = options.json { try report.json().write(to: URL(fileURLWithPath: path)) }
  }
}
