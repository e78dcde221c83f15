import ArgumentParser
import BenchKit
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
    try await Scenario.run("ping", self.options) { client in
      _ = try await client.unary(SystemMethods.ping, message)
      return 1
    }
  }
}

/// Connects one `TallyClient` per connection before the clock starts, measures, reports.
enum Scenario {
  static func run(
    _ name: String, unit: String = "calls", _ options: BenchOptions,
    _ call: @escaping @Sendable (TallyClient) async throws -> UInt64
  ) async throws {
    let clients = try await Self.connect(options)
    let report: BenchReport
    do {
      // Each connection's tasks run on its event loop, as a Tally client should (no hop per call).
      report = try await LoadScenario.measure(
        name, unit: unit, options: options.load, clients: clients, executor: { $0.connectionExecutor }, call)
    } catch {
      for client in clients { await client.close() }
      throw error
    }
    for client in clients { await client.close() }
    try LoadScenario.emit(report, json: options.load.json)
  }

  static func connect(_ options: BenchOptions) async throws -> [TallyClient] {
    let configuration = try options.configuration(clientName: "tally-bench")
    let clients = try (0..<options.load.connections).map { _ in try TallyClient(configuration: configuration) }
    for client in clients { _ = try await client.unary(SystemMethods.ping, Tally_V1_PingRequest()) }
    return clients
  }
}
