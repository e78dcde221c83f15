import ArgumentParser
import Foundation
import Synchronization
import TallyClient
import TallyProto
import TallyWire

/// `tally-bench ingest`: RecordEvents streams of `--batches` messages of `--batch-size` events,
/// every event new (idempotency keys unique to the run), rollups and all: events/s end to end.
struct IngestScenario: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "ingest", abstract: "RecordEvents client streams of 1,000-event messages (events/s).")
  @OptionGroup var options: BenchOptions
  @Option(help: "Events per RecordEvents message (the server takes at most 10,000).") var batchSize = 1_000
  @Option(help: "Messages per RecordEvents stream: one call.") var batches = 10
  @Option(help: "Accounts the events are spread over.") var accounts = 2_000
  @Flag(help: "Send each stream with an idempotency_key of its own (the claim, the response and the mark per batch).")
  var callKeys = false

  func validate() throws {
    guard (1...10_000).contains(self.batchSize) else { throw ValidationError("--batch-size must be 1 to 10000") }
    guard (1...1_000).contains(self.batches) else { throw ValidationError("--batches must be 1 to 1000") }
    guard self.accounts > 0 else { throw ValidationError("--accounts must be > 0") }
  }

  func run() async throws {
    let generator = EventGenerator(
      seed: 7, keyPrefix: "ingest-\(UInt32.random(in: .min ... .max))-", accounts: self.accounts,
      end: Int64(Date().timeIntervalSince1970))
    let next = SharedCounter()
    let batchSize = UInt64(self.batchSize)
    let batches = self.batches
    let callKeyPrefix = self.callKeys ? "\(generator.keyPrefix)call-" : nil
    let calls = SharedCounter()
    try await Scenario.run("ingest", unit: "events", self.options) { client in
      let options = CallOptions(idempotencyKey: callKeyPrefix.map { "\($0)\(calls.take(1))" })
      let response = try await generator.recordNew(
        on: client, batches: batches, batchSize: batchSize, next: next, options: options)
      let sent = UInt64(batches) * batchSize
      guard response.accepted == sent else {
        throw ValidationError("RecordEvents accepted \(response.accepted) of \(sent) new events")
      }
      return response.accepted
    }
  }
}

extension EventGenerator {
  /// One RecordEvents stream of `batches` messages of `batchSize` events never sent before: each
  /// message takes the next numbers from `next`.
  func recordNew(
    on client: TallyClient, batches: Int, batchSize: UInt64, next: SharedCounter, options: CallOptions = CallOptions()
  ) async throws -> Tally_V1_RecordEventsResponse {
    try await client.clientStreaming(EventMethods.recordEvents, options: options) { writer in
      for _ in 0..<batches {
        let first = next.take(batchSize)
        try await writer.send(self.request(first..<first + batchSize))
      }
    }
  }
}

/// Hands out disjoint ranges of numbers (events, tokens) to the scenario's tasks.
final class SharedCounter: Sendable {
  private let next = Atomic<UInt64>(0)

  func take(_ count: UInt64) -> UInt64 {
    self.next.add(count, ordering: .relaxed).oldValue
  }
}
