import ArgumentParser
import Foundation
import TallyClient
import TallyProto
import TallyWire

/// `tally ping`: is the server there, and how far away is it?
struct Ping: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Measure round trips with SystemService/Ping.",
    discussion: "The connection is made first, so the times exclude the TLS handshake."
  )

  @OptionGroup var connection: ConnectionOptions

  @Option(help: "Text the server echoes back.")
  var payload: String = ""

  @Option(help: "How many pings to send, one after another.")
  var count: Int = 1

  /// What `-o json` prints.
  struct Report: Encodable {
    var endpoint: String
    var payloadBytes: Int
    var roundTripsMs: [Double]
    var minMs: Double
    var medianMs: Double
    var maxMs: Double

  }

  func validate() throws {
    guard self.count >= 1 else { throw ValidationError("--count must be at least 1, got \(self.count)") }
  }

  func run() async throws {
    var request = Tally_V1_PingRequest()
    request.payload = Data(self.payload.utf8)
    let table = self.connection.output == .table
    let (endpoint, times) = try await self.connection.withClient { session in
      _ = try await session.client.welcome()
      var times: [Duration] = []
      for number in 1...self.count {
        let started = ContinuousClock.now
        let response = try await session.client.unary(SystemMethods.ping, request, options: session.options)
        let time = ContinuousClock.now - started
        guard response.payload == request.payload else {
          throw RPCError(code: .dataLoss, message: "ping \(number): the server echoed a different payload")
        }
        times.append(time)
        if table { print("ping \(number) to \(session.endpoint): \(Output.milliseconds(time))") }
      }
      return (session.endpoint, times)
    }
    let sorted = times.sorted()
    let middle = sorted.count / 2
    let median = sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    let (fastest, slowest) = (sorted[0], sorted[sorted.count - 1])
    switch self.connection.output {
    case .table:
      guard times.count > 1 else { return }
      let summary = [fastest, median, slowest].map(Output.milliseconds).joined(separator: " / ")
      print("min / median / max: \(summary)")
    case .csv:
      Output.printTable(
        [["ping", "round_trip_ms"]]
          + times.enumerated().map {
            ["\($0.offset + 1)", String(format: "%.3f", Output.millisecondValue($0.element))]
          })
    case .json:
      let report = Report(
        endpoint: endpoint,
        payloadBytes: request.payload.count,
        roundTripsMs: times.map(Output.millisecondValue),
        minMs: Output.millisecondValue(fastest),
        medianMs: Output.millisecondValue(median),
        maxMs: Output.millisecondValue(slowest)
      )
      try Output.printJSON(report)
    }
  }
}
