import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import SwiftProtobuf
import TallyCore
import TallyProto
import TallyWire
import Testing

@testable import TallyServer

/// The server's connection handler without I/O: when a call's handler runs, and what it writes.
@Suite struct ServerConnectionHandlerTests {
  /// Accepts any API key as an operator, without suspending.
  private struct AcceptingAuthenticator: Authenticator {
    func authenticate(apiKey: String) async throws -> Principal {
      Principal(keyID: "test", tenantID: nil, scopes: [.operator])
    }
  }

  /// A handler in an embedded channel that has had a HELLO and written its WELCOME.
  private func welcomedChannel(_ router: Router) throws -> EmbeddedChannel {
    let handler = ServerConnectionHandler(
      dependencies: .init(
        router: router, authenticator: AcceptingAuthenticator(), limits: ServerLimits(),
        metrics: ServerMetrics(methodNames: router.methodNames), logger: Logger(label: "test")))
    let channel = EmbeddedChannel(handler: handler)
    var hello = Tally_V1_Hello()
    hello.protocolVersion = tallyProtocolVersion
    hello.apiKey = "tly_test_secret"
    var bytes = ByteBuffer(bytes: ConnectionMagic.bytes)
    bytes.writeFrame(Frame(type: .hello, payload: try Self.payload(hello)))
    try channel.writeInbound(bytes)
    channel.embeddedEventLoop.run()
    #expect(try Self.frames(written: channel).map(\.type) == [.welcome])
    return channel
  }

  private static func payload(_ message: some Message) throws -> ByteBuffer {
    ByteBuffer(bytes: try message.serializedBytes() as [UInt8])
  }

  /// Sends `frame` to the handler as the bytes a client writes.
  private static func write(_ frame: Frame, to channel: EmbeddedChannel) throws {
    var bytes = ByteBuffer()
    bytes.writeFrame(frame)
    try channel.writeInbound(bytes)
  }

  /// The frames in what the handler wrote, as the client's decoder reads them.
  private static func frames(written channel: EmbeddedChannel) throws -> [Frame] {
    let decoder = EmbeddedChannel(handler: ByteToMessageHandler(FrameDecoder(expectsMagic: false)))
    while let buffer = try channel.readOutbound(as: ByteBuffer.self) { try decoder.writeInbound(buffer) }
    var frames: [Frame] = []
    while let frame = try decoder.readInbound(as: Frame.self) { frames.append(frame) }
    return frames
  }

  private static func openPing(streamID: UInt32, on channel: EmbeddedChannel) throws {
    var header = Tally_V1_CallHeader()
    header.method = SystemMethods.ping.fullName
    try Self.write(Frame(type: .call, streamID: streamID, payload: try Self.payload(header)), to: channel)
    var ping = Tally_V1_PingRequest()
    ping.payload = Data([7, 7, 7])
    try Self.write(
      Frame(type: .message, flags: .endStream, streamID: streamID, payload: try Self.payload(ping)), to: channel)
  }

  @Test func handlerThatDoesNotSuspendAnswersWithinTheReadThatCarriedItsRequest() throws {
    let ran = NIOLockedValueBox(0)
    var router = Router()
    router.unary(SystemMethods.ping, access: .anyKey) { request, _ in
      ran.withLockedValue { $0 += 1 }
      var response = Tally_V1_PingResponse()
      response.payload = request.payload
      return response
    }
    let channel = try self.welcomedChannel(router)
    try Self.openPing(streamID: 1, on: channel)
    #expect(ran.withLockedValue { $0 } == 1, "the handler waited for a later turn of the event loop")
    channel.embeddedEventLoop.run()  // the flush, once per turn
    let frames = try Self.frames(written: channel)
    #expect(frames.map(\.type) == [.message, .status])
    #expect(frames.map(\.streamID) == [1, 1])
    #expect(try Tally_V1_PingResponse(decoding: frames[0].payload).payload == Data([7, 7, 7]))
    #expect(try Tally_V1_Status(decoding: frames[1].payload).code == .ok)
  }

  /// The handler decodes frames itself: a connection's bytes cut anywhere, or all in one read,
  /// make the same calls and the same answers.
  @Test(arguments: [1, 7, 1_000]) func bytesCutAnywhereMakeTheSameCalls(chunkSize: Int) throws {
    var router = Router()
    router.unary(SystemMethods.ping, access: .anyKey) { request, _ in
      var response = Tally_V1_PingResponse()
      response.payload = request.payload
      return response
    }
    let channel = EmbeddedChannel(
      handler: ServerConnectionHandler(
        dependencies: .init(
          router: router, authenticator: AcceptingAuthenticator(), limits: ServerLimits(),
          metrics: ServerMetrics(methodNames: router.methodNames), logger: Logger(label: "test"))))
    var hello = Tally_V1_Hello()
    hello.protocolVersion = tallyProtocolVersion
    hello.apiKey = "tly_test_secret"
    var header = Tally_V1_CallHeader()
    header.method = SystemMethods.ping.fullName
    var ping = Tally_V1_PingRequest()
    ping.payload = Data([1, 2, 3])
    var bytes = ByteBuffer(bytes: ConnectionMagic.bytes)
    bytes.writeFrame(Frame(type: .hello, payload: try Self.payload(hello)))
    for streamID: UInt32 in [1, 3] {
      bytes.writeFrame(Frame(type: .call, streamID: streamID, payload: try Self.payload(header)))
      bytes.writeFrame(Frame(type: .message, flags: .endStream, streamID: streamID, payload: try Self.payload(ping)))
    }
    while let chunk = bytes.readSlice(length: min(chunkSize, bytes.readableBytes)), chunk.readableBytes > 0 {
      try channel.writeInbound(chunk)
      channel.embeddedEventLoop.run()
    }
    let frames = try Self.frames(written: channel)
    #expect(frames.map(\.type) == [.welcome, .message, .status, .message, .status])
    #expect(frames.map(\.streamID) == [0, 1, 1, 3, 3])
  }
}
