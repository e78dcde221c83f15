import ArgumentParser
import BenchKit
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import GRPCProtobuf
import NIOPosix
import TallyProto
import TallyWire

/// `grpc-baseline ping`: drives `serve` like `tally-bench ping` drives tallyd: one client (one
/// HTTP/2 connection) per connection, `--concurrency` calls in flight on each.
struct PingCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(commandName: "ping", abstract: "Drive the gRPC Ping service.")
  @Option(help: "The server's port on 127.0.0.1.") var port: Int
  @Option(help: "The CA certificate (PEM) to trust, e.g. tallyd dev's tls/ca.pem.") var caCert: String
  @Option(help: "Payload bytes.") var payload = 64
  @OptionGroup var load: LoadOptions

  func run() async throws {
    var request = Tally_V1_PingRequest()
    request.payload = Data((0..<self.payload).map { UInt8(truncatingIfNeeded: $0) })
    let message = request
    let clients = try (0..<self.load.connections).map { _ in
      GRPCClient(
        transport: try .http2NIOPosix(
          target: .ipv4(address: "127.0.0.1", port: self.port),
          transportSecurity: .tls { $0.trustRoots = .certificates([.file(path: self.caCert, format: .pem)]) }
        ))
    }
    let report = try await withThrowingTaskGroup { group in
      for client in clients { group.addTask { try await client.runConnections() } }
      defer { for client in clients { client.beginGracefulShutdown() } }
      for client in clients { _ = try await Self.ping(client, Tally_V1_PingRequest()) }
      // As tally-bench's tasks run on their connection's loop, each client's tasks here prefer a loop
      // of the group the transport runs on (it does not say which one a connection took): measured,
      // that is as fast as Swift's global pool at 1 × 64 and a little faster at 4 × 16.
      let executors = Dictionary(
        uniqueKeysWithValues: clients.map {
          (ObjectIdentifier($0), EventLoopTaskExecutor(eventLoop: MultiThreadedEventLoopGroup.singleton.next()))
        })
      let executor: @Sendable (GRPCClient<HTTP2ClientTransport.Posix>) -> (any TaskExecutor)? = {
        executors[ObjectIdentifier($0)]
      }
      return try await LoadScenario.measure("grpc ping", options: self.load, clients: clients, executor: executor) {
        client in
        _ = try await Self.ping(client, message)
        return 1
      }
    }
    try LoadScenario.emit(report, json: self.load.json)
  }

  static func ping(_ client: GRPCClient<HTTP2ClientTransport.Posix>, _ message: Tally_V1_PingRequest) async throws
    -> Tally_V1_PingResponse
  {
    try await client.unary(
      request: ClientRequest(message: message),
      descriptor: PingService.ping,
      serializer: ProtobufSerializer<Tally_V1_PingRequest>(),
      deserializer: ProtobufDeserializer<Tally_V1_PingResponse>(),
      options: .defaults
    ) { try $0.message }
  }
}
