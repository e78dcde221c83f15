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
        logger: Logger(label: "test")))
    let channel = EmbeddedChannel(handler: handler)
    var hello = Tally_V1_Hello()
    hello.protocolVersion = tallyProtocolVersion
    hello.apiKey = "tly_test_secret"
    try channel.writeInbound(Frame(type: .hello, payload: try Self.payload(hello)))
    channel.embeddedEventLoop.run()
    #expect(try Self.frames(written: channel).map(\.type) == [.welcome])
    return channel
  }

  private static func payload(_ message: some Message) throws -> ByteBuffer {
    ByteBuffer(bytes: try message.serializedBytes() as [UInt8])
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
    try channel.writeInbound(Frame(type: .call, streamID: streamID, payload: try Self.payload(header)))
    var ping = Tally_V1_PingRequest()
    ping.payload = Data([7, 7, 7])
    try channel.writeInbound(
      Frame(type: .message, flags: .endStream, streamID: streamID, payload: try Self.payload(ping)))
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
}
