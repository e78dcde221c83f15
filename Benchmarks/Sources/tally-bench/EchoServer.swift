import ArgumentParser
import NIOCore
import NIOPosix
import NIOSSL
import SwiftProtobuf
import TallyProto
import TallyWire

/// `tally-bench echo-server`: the transport's ceiling. A bare SwiftNIO + NIOSSL server of the same
/// framing, TLS settings and client, that answers HELLO and echoes each request message with an OK
/// STATUS; no routing, no authentication, no handler task. `tally-bench ping --endpoint` drives it.
struct EchoServerCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "echo-server", abstract: "A bare NIO + NIOSSL echo of Tally's frames (the ping baseline).")
  @Option(help: "The port to listen on (127.0.0.1).") var port: Int
  @Option(help: "The server certificate chain (PEM), e.g. tallyd dev's tls/server.pem.") var cert: String
  @Option(help: "The server's private key (PEM), e.g. tallyd dev's tls/server.key.") var key: String

  func run() async throws {
    let chain = try NIOSSLCertificate.fromPEMFile(self.cert).map { NIOSSLCertificateSource.certificate($0) }
    var tls = TLSConfiguration.makeServerConfiguration(
      certificateChain: chain, privateKey: .privateKey(try NIOSSLPrivateKey(file: self.key, format: .pem)))
    // The same TLS settings as tallyd's (TallyServer.makeTLSContext).
    tls.minimumTLSVersion = .tlsv12
    tls.applicationProtocols = ["tally/1"]
    let context = try NIOSSLContext(configuration: tls)
    let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
      .serverChannelOption(.backlog, value: 1024)
      .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
      .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
      .childChannelOption(.maxMessagesPerRead, value: 16)
      .childChannelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
          let pipeline = channel.pipeline.syncOperations
          try pipeline.addHandler(NIOSSLServerHandler(context: context))
          try pipeline.addHandler(FrameEchoHandler())
        }
      }
      .bind(host: "127.0.0.1", port: self.port).get()
    print("echo-server listening on \(channel.localAddress.map { "\($0)" } ?? "?")")
    try await channel.closeFuture.get()
  }
}

/// Echoes each request's MESSAGE back with an empty (OK) STATUS, and flushes once per read and
/// after every `FlushCoalescer.writesPerFlush` answers, as tallyd does at most. It decodes frames
/// itself, as tallyd's connection handler does.
final class FrameEchoHandler: ChannelInboundHandler {
  typealias InboundIn = ByteBuffer
  typealias OutboundOut = ByteBuffer

  private var decoder = NIOSingleStepByteToMessageProcessor(FrameDecoder(expectsMagic: true))
  private var unflushed = 0

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    do {
      try self.decoder.process(buffer: self.unwrapInboundIn(data)) { self.echo($0, context: context) }
    } catch {
      context.close(promise: nil)
    }
  }

  private func echo(_ frame: Frame, context: ChannelHandlerContext) {
    var out = context.channel.allocator.buffer(capacity: 2 * Frame.headerLength + frame.payload.readableBytes)
    switch frame.type {
    case .hello:
      var welcome = Tally_V1_Welcome()
      welcome.serverVersion = "echo"
      welcome.protocolVersion = tallyProtocolVersion
      welcome.maxFramePayload = UInt32(Frame.defaultMaxPayload)
      welcome.maxConcurrentStreams = 10_000
      out.writeFrame(.welcome, payload: (try? welcome.serializedBytes() as [UInt8]) ?? [])
    case .message where frame.flags.contains(.endStream):
      out.writeFrame(.message, streamID: frame.streamID, payload: frame.payload)
      out.writeFrame(.status, streamID: frame.streamID, payload: EmptyCollection())
    case .ping where !frame.flags.contains(.ack):
      out.writeFrame(.ping, flags: .ack, payload: frame.payload)
    default:
      return
    }
    context.write(self.wrapOutboundOut(out), promise: nil)
    self.unflushed += 1
    if self.unflushed == FlushCoalescer.writesPerFlush { self.flush(context: context) }
  }

  func channelReadComplete(context: ChannelHandlerContext) {
    self.flush(context: context)
  }

  private func flush(context: ChannelHandlerContext) {
    self.unflushed = 0
    context.flush()
  }

  func errorCaught(context: ChannelHandlerContext, error: any Error) {
    context.close(promise: nil)
  }
}
