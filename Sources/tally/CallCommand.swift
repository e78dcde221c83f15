import ArgumentParser
import SwiftProtobuf
import TallyClient
import TallyWire

/// `tally call`: any method of the catalogue with protobuf JSON, like grpcurl, for the methods
/// that have no command of their own.
struct Call: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Call a method with protobuf-JSON requests; print each response as JSON on its own line.",
    discussion: """
      Field names are those of the .proto files (snake_case); bytes are base64 and 64-bit integers \
      are quoted, as protobuf JSON says. Without --data the one request is {}.

      Example: tally call tally.v1.SystemService/Count --data '{"n": 3}'
      """
  )

  @OptionGroup var connection: ConnectionOptions

  @Argument(help: "The full method name, e.g. tally.v1.SystemService/Ping.")
  var method: String?

  @Option(
    name: [.short, .long],
    help: ArgumentHelp(
      "A request in protobuf JSON; repeat it for client streaming. @FILE reads a file and - reads stdin, "
        + "each holding one or more messages (e.g. one per line).",
      valueName: "json"
    )
  )
  var data: [String] = []

  @Flag(help: "List the methods this client knows, with their kind and message types.")
  var list = false

  func validate() throws {
    if self.list {
      guard self.method == nil, self.data.isEmpty else { throw ValidationError("--list takes no method and no --data") }
    } else if self.method == nil {
      throw ValidationError("name a method, e.g. tally.v1.SystemService/Ping; `tally call --list` shows them all")
    }
    guard self.data.filter({ $0 == "-" }).count <= 1 else { throw ValidationError("--data - may appear only once") }
  }

  func run() async throws {
    guard let method = self.method, !self.list else { return try self.printList() }
    let requests = self.data.isEmpty ? ["{}"] : try self.data.flatMap(RequestInput.messages)
    // The user's own mistakes, found before connecting: exit 64 with `error:`, not a status that
    // reads as the server's answer.
    do {
      try TallyClient.checkDynamicCall(methodNamed: method, jsonRequests: requests)
    } catch let error as RPCError {
      throw ValidationError(error.message)
    }
    // Each response is printed as it arrives, so a long stream shows progress and keeps what came
    // before an error.
    try await self.connection.withClient { session in
      try await session.client.call(methodNamed: method, jsonRequests: requests, options: session.options) {
        print($0)
      }
    }
  }

  /// One catalogue entry, as `--list -o json` prints it.
  struct Entry: Encodable {
    var method: String
    var kind: String
    var request: String
    var response: String
  }

  private func printList() throws {
    let entries = MethodCatalog.all.map {
      Entry(
        method: $0.fullName,
        kind: $0.kind.rawValue,
        request: $0.requestType.protoMessageName,
        response: $0.responseType.protoMessageName
      )
    }
    switch self.connection.output {
    case .json: try Output.printJSON(entries)
    case .table, .csv:
      Output.printTable(
        [["METHOD", "KIND", "REQUEST", "RESPONSE"]] + entries.map { [$0.method, $0.kind, $0.request, $0.response] })
    }
  }
}
