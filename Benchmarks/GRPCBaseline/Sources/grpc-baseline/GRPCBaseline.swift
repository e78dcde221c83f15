import ArgumentParser

/// `grpc-baseline`: Tally's Ping over grpc-swift-2, served (`serve`) and driven (`ping`) with the
/// same payload, load shape, TLS certificate and report as `tally-bench ping`.
@main
struct GRPCBaseline: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "grpc-baseline", abstract: "Unary Ping over grpc-swift-2 (TLS, HTTP/2): the gRPC baseline.",
    subcommands: [ServeCommand.self, PingCommand.self])
}
