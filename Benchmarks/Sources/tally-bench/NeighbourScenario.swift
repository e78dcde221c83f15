import ArgumentParser
import BenchKit
import Foundation
import TallyClient
import TallyProto
import TallyWire

/// `tally-bench neighbour`: while the profile's tenant loads the database with RecordEvents
/// streams (`--connections` × `--concurrency` of them), a second tenant, made for the run, reads
/// one page of its accounts at a time. Reports the quiet tenant's latency: how long one tenant's
/// backlog makes another wait for a database connection.
struct NeighbourScenario: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "neighbour",
    abstract: "A quiet tenant's reads, one at a time, while another tenant's RecordEvents streams load the database.")
  @OptionGroup var options: BenchOptions
  @Option(help: "Messages of 1,000 events per RecordEvents stream of the busy tenant.") var batches = 10

  func validate() throws {
    guard (1...1_000).contains(self.batches) else { throw ValidationError("--batches must be 1 to 1000") }
  }

  func run() async throws {
    let operatorClient = try TallyClient(
      configuration: try self.options.configuration(clientName: "tally-bench", useOperatorKey: true))
    var create = Tally_V1_CreateTenantRequest()
    create.name = "tally-bench neighbour \(UInt32.random(in: .min ... .max))"
    create.currency = "EUR"
    let quiet = CallOptions(tenantID: try await operatorClient.unary(AdminMethods.createTenant, create).tenantID)
    let busy = try await Scenario.connect(self.options)

    // The busy tenant's streams run from before the warm-up to past the measurement.
    let generator = EventGenerator(
      seed: 11, keyPrefix: "neighbour-\(UInt32.random(in: .min ... .max))-", accounts: 2_000,
      end: Int64(Date().timeIntervalSince1970))
    let next = SharedCounter()
    let batches = self.batches
    let load = self.options.load
    let busyRun = Task {
      await LoadRunner(
        concurrency: load.concurrency, duration: .milliseconds(Int((load.warmup + load.duration + 1) * 1_000))
      )
      .run(clients: busy, executor: { $0.connectionExecutor }) { client in
        try await generator.recordNew(on: client, batches: batches, batchSize: 1_000, next: next).accepted
      }
    }
    var quietLoad = load
    (quietLoad.connections, quietLoad.concurrency) = (1, 1)
    var request = Tally_V1_ListAccountsRequest()
    request.pageSize = 1
    let page = request
    let read: @Sendable (TallyClient) async throws -> UInt64 = { client in
      _ = try await client.unary(AccountMethods.listAccounts, page, options: quiet)
      return 1
    }
    let report: BenchReport
    do {
      report = try await LoadScenario.measure(
        "neighbour", options: quietLoad, clients: [operatorClient], executor: { $0.connectionExecutor }, read)
    } catch {
      busyRun.cancel()
      _ = await busyRun.value
      for client in busy + [operatorClient] { await client.close() }
      throw error
    }
    let loaded = await busyRun.value
    for client in busy + [operatorClient] { await client.close() }
    try LoadScenario.emit(report, json: load.json)
    print(
      String(
        format: "  the busy tenant: %d RecordEvents streams, %.0f events/s, %llu errors",
        load.connections * load.concurrency, Double(loaded.units) / max(loaded.elapsed.seconds, 0.001), loaded.errors))
  }
}
