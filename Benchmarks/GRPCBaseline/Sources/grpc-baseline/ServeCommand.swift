import ArgumentParser
import GRPCCore
import GRPCNIOTransportHTTP2

/// `grpc-baseline serve`: the Ping service on 127.0.0.1 over TLS, until killed.
struct ServeCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(commandName: "serve", abstract: "Serve Ping over gRPC.")
  @Option(help: "The port to listen on (127.0.0.1).") var port: Int
  @Option(help: "The server certificate chain (PEM), e.g. tallyd dev's tls/server.pem.") var cert: String
  @Option(help: "The server's private key (PEM), e.g. tallyd dev's tls/server.key.") var key: String

  func run() async throws {
    let server = GRPCServer(
      transport: .http2NIOPosix(
        address: .ipv4(host: "127.0.0.1", port: self.port),
        transportSecurity: .tls(
          certificateChain: [.file(path: self.cert, format: .pem)], privateKey: .file(path: self.key, format: .pem))
      ),
      services: [PingService()]
    )
    try await withThrowingDiscardingTaskGroup { group in
      group.addTask { try await server.serve() }
      if let address = try await server.listeningAddress { print("grpc-baseline listening on \(address)") }
    }
  }
}
