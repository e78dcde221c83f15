import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import SwiftProtobuf
import TallyCore
import TallyProto
import TallyTestSupport
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

  /// Checks no key before it is cancelled; counts the checks cancelled.
  private final class HangingAuthenticator: Authenticator {
    let cancelled = NIOLockedValueBox(0)
    func authenticate(apiKey: String) async throws -> Principal {
      do {
        try await Task.sleep(for: .seconds(3_600))
      } catch {
        self.cancelled.withLockedValue { $0 += 1 }
        throw error
      }
      return Principal(keyID: "test", tenantID: nil, scopes: [.operator])
    }
  }

  /// A HELLO whose key check is still running when the connection closes has its check cancelled:
  /// clients that hang up after HELLO leave no look-ups queued for the database.
  @Test func aConnectionThatClosesDuringItsKeyCheckCancelsIt() async throws {
    let authenticator = HangingAuthenticator()
    let channel = EmbeddedChannel(
      handler: ServerConnectionHandler(
        dependencies: .init(
          router: Router(), authenticator: authenticator, limits: ServerLimits(),
          metrics: ServerMetrics(methodNames: []), logger: Logger(label: "test"))))
    try channel.writeInbound(try Self.helloBytes())
    _ = try? channel.finish()
    #expect(try await waitUntil { authenticator.cancelled.withLockedValue { $0 } == 1 }, "the key check ran on")
  }

  /// A handler in an embedded channel that has had a HELLO and written its WELCOME.
  private func welcomedChannel(_ router: Router, limits: ServerLimits = ServerLimits()) throws -> EmbeddedChannel {
    try self.welcomedChannel(Self.dependencies(router, limits: limits))
  }

  /// A connection of a server whose connections share `dependencies`; `then` comes in the read
  /// that carried HELLO.
  private func welcomedChannel(
    _ dependencies: ServerConnectionHandler.Dependencies, then: ByteBuffer = ByteBuffer(),
    apiKey: String = "tly_test_secret"
  ) throws -> EmbeddedChannel {
    let handler = ServerConnectionHandler(dependencies: dependencies)
    let channel = EmbeddedChannel(handler: handler)
    var bytes = try Self.helloBytes(apiKey: apiKey)
    bytes.writeImmutableBuffer(then)
    try channel.writeInbound(bytes)
    channel.embeddedEventLoop.run()
    let written = try Self.frames(written: channel).map(\.type)
    #expect(then.readableBytes == 0 ? written == [.welcome] : written.first == .welcome)
    return channel
  }

  private static func dependencies(
    _ router: Router, limits: ServerLimits, authenticator: any Authenticator = AcceptingAuthenticator()
  ) -> ServerConnectionHandler.Dependencies {
    .init(
      router: router, authenticator: authenticator, limits: limits,
      metrics: ServerMetrics(methodNames: router.methodNames), logger: Logger(label: "test"))
  }

  /// Accepts any API key as a read key of the tenant the key names.
  private struct KeyNamesTenantAuthenticator: Authenticator {
    func authenticate(apiKey: String) async throws -> Principal {
      Principal(keyID: apiKey, tenantID: apiKey, scopes: [.read])
    }
  }

  /// Accepts any API key as a tenant's read key.
  private struct TenantKeyAuthenticator: Authenticator {
    func authenticate(apiKey: String) async throws -> Principal {
      Principal(keyID: "tenant-key", tenantID: "00000000-0000-0000-0000-000000000001", scopes: [.read])
    }
  }

  /// The magic and a HELLO, as a client opens a connection.
  private static func helloBytes(apiKey: String = "tly_test_secret") throws -> ByteBuffer {
    var hello = Tally_V1_Hello()
    hello.protocolVersion = tallyProtocolVersion
    hello.apiKey = apiKey
    var bytes = ByteBuffer(bytes: ConnectionMagic.bytes)
    bytes.writeFrame(Frame(type: .hello, payload: try Self.payload(hello)))
    return bytes
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

  /// `timeout_ms` past 30 days is no deadline at all, rather than one that fires early.
  @Test func timeoutsPastThirtyDaysAreNone() {
    #expect(ServerConnectionHandler.timeout(milliseconds: 0) == nil)
    #expect(ServerConnectionHandler.timeout(milliseconds: 1) == .milliseconds(1))
    #expect(ServerConnectionHandler.timeout(milliseconds: 2_592_000_000) == .seconds(2_592_000))
    #expect(ServerConnectionHandler.timeout(milliseconds: 2_592_000_001) == nil)
    #expect(ServerConnectionHandler.timeout(milliseconds: .max) == nil)
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

  /// A call that runs past the idle timeout keeps its connection, and the idle timer then fires
  /// once per timeout, not every millisecond until the call ends.
  @Test func aLongCallChecksIdlenessOncePerTimeout() async throws {
    var router = Router()
    router.unary(SystemMethods.ping, access: .anyKey) { _, _ in
      try await Task.sleep(for: .seconds(3_600))
      return Tally_V1_PingResponse()
    }
    let channel = try self.welcomedChannel(router, limits: ServerLimits(idleTimeout: .milliseconds(50)))
    let handler = try channel.pipeline.syncOperations.handler(type: ServerConnectionHandler.self)
    try Self.openPing(streamID: 1, on: channel)
    try await Task.sleep(for: .milliseconds(120))  // the real clock, which idleness is measured by
    channel.embeddedEventLoop.advanceTime(by: .milliseconds(60))
    #expect(handler.idleChecks == 1)
    channel.embeddedEventLoop.advanceTime(by: .milliseconds(30))
    #expect(handler.idleChecks == 1, "the timer fired again before a whole timeout")
    channel.embeddedEventLoop.advanceTime(by: .milliseconds(20))
    #expect(handler.idleChecks == 2)
    #expect(try Self.frames(written: channel).isEmpty, "a connection with a call running got GOAWAY")
    _ = try? channel.finish()
  }

  /// Counts the reads and flushes that pass it toward the socket: what the handler lets through.
  private final class OutboundCounter: ChannelOutboundHandler {
    typealias OutboundIn = NIOAny
    var reads = 0
    var flushes = 0
    func read(context: ChannelHandlerContext) {
      self.reads += 1
      context.read()
    }
    func flush(context: ChannelHandlerContext) {
      self.flushes += 1
      context.flush()
    }
  }

  /// A tenant key's PINGs and refused calls cost its tenant's tokens as calls do: all are
  /// answered, but past the tenant's rate the connection is read no more until a token is back.
  @Test func pingsAndRefusalsPastTheTenantsRateHoldBackReads() throws {
    let limits = ServerLimits(tenantCallsPerSecond: 10, tenantCallBurst: 10)
    let channel = try self.welcomedChannel(
      Self.dependencies(Router(), limits: limits, authenticator: TenantKeyAuthenticator()))
    let counter = OutboundCounter()
    try channel.pipeline.syncOperations.addHandler(counter, position: .first)
    var bytes = ByteBuffer()
    for index in 0..<25 { bytes.writeFrame(.ping, payload: [UInt8](repeating: UInt8(index), count: 8)) }
    var header = Tally_V1_CallHeader()
    header.method = "tally.v1.Nowhere/Nothing"
    for streamID: UInt32 in [1, 3, 5, 7, 9] {
      bytes.writeFrame(Frame(type: .call, streamID: streamID, payload: try Self.payload(header)))
    }
    try channel.writeInbound(bytes)
    channel.embeddedEventLoop.run()
    let frames = try Self.frames(written: channel)
    #expect(frames.filter { $0.type == .ping }.count == 25 && frames.filter { $0.type == .status }.count == 5)
    // 30 calls' worth at 10 a second with a burst of 10: 20 tokens missing, 100 ms each.
    channel.read()
    #expect(counter.reads == 0, "read on with the tenant 20 calls past its rate")
    channel.embeddedEventLoop.advanceTime(by: .milliseconds(1_900))
    #expect(counter.reads == 0, "read on before the connection had waited for its 20 tokens")
    channel.embeddedEventLoop.advanceTime(by: .milliseconds(100))
    #expect(counter.reads == 1, "reads did not resume after the wait")

    // PINGs held while HELLO was checked are charged when they are answered, after WELCOME.
    let held = try self.welcomedChannel(
      Self.dependencies(Router(), limits: limits, authenticator: TenantKeyAuthenticator()), then: bytes)
    let heldReads = OutboundCounter()
    try held.pipeline.syncOperations.addHandler(heldReads, position: .first)
    held.read()
    #expect(heldReads.reads == 0, "frames that came with HELLO went uncharged")
  }

  /// A call refused for its tenant's rate takes no token, but its connection reads nothing more
  /// until one is back: a client over its rate sent CALLs as fast as the line allowed, each one
  /// decoded and answered.
  @Test func aCallRefusedForTheRateHoldsBackReadsUntilATokenIsBack() throws {
    var router = Router()
    router.unary(blockMethod, access: .anyKey) { _, _ in Tally_V1_PingResponse() }
    let limits = ServerLimits(tenantCallsPerSecond: 10, tenantCallBurst: 10)
    let channel = try self.welcomedChannel(
      Self.dependencies(router, limits: limits, authenticator: TenantKeyAuthenticator()))
    let counter = OutboundCounter()
    try channel.pipeline.syncOperations.addHandler(counter, position: .first)
    var header = Tally_V1_CallHeader()
    header.method = blockMethod.fullName
    // Eleven unary calls in one read: the burst's ten and one more.
    func elevenCalls() throws -> ByteBuffer {
      var bytes = ByteBuffer()
      for streamID in stride(from: UInt32(1), through: 21, by: 2) {
        bytes.writeFrame(Frame(type: .call, streamID: streamID, payload: try Self.payload(header)))
        bytes.writeFrame(
          Frame(
            type: .message, flags: .endStream, streamID: streamID, payload: try Self.payload(Tally_V1_PingRequest())))
      }
      return bytes
    }
    try channel.writeInbound(try elevenCalls())
    channel.embeddedEventLoop.run()
    let statuses = try Self.frames(written: channel).filter { $0.type == .status }
    #expect(statuses.count == 11)
    // The burst's 10 calls ran; the 11th was refused, and a token comes back in 100 ms.
    channel.read()
    #expect(counter.reads == 0, "read on past a refusal for the tenant's rate")
    channel.embeddedEventLoop.advanceTime(by: .milliseconds(100))
    #expect(counter.reads == 1, "reads did not resume once a token was back")
    _ = try? channel.finish()

    // An operator key's connection serves every tenant: not held back for one of them.
    let operatorChannel = try self.welcomedChannel(Self.dependencies(router, limits: limits))
    let operatorReads = OutboundCounter()
    try operatorChannel.pipeline.syncOperations.addHandler(operatorReads, position: .first)
    header.tenantID = "t-busy"
    try operatorChannel.writeInbound(try elevenCalls())
    operatorChannel.embeddedEventLoop.run()
    let refused = try Self.frames(written: operatorChannel).filter { $0.type == .status }.compactMap {
      try? Tally_V1_Status(decoding: $0.payload)
    }.filter { $0.code == .resourceExhausted }
    #expect(refused.count == 1)
    operatorChannel.read()
    #expect(operatorReads.reads == 1)
    _ = try? operatorChannel.finish()
  }

  /// A read full of PINGs, or of calls the server refuses at once, is answered with a flush per
  /// 16 answers, not a write to the socket for each. An operator key's are not charged to any
  /// tenant's rate, as its calls without a tenant are not.
  @Test func pingsAndRefusalsOfOneReadShareFlushes() throws {
    let channel = try self.welcomedChannel(
      Self.dependencies(Router(), limits: ServerLimits(tenantCallsPerSecond: 10, tenantCallBurst: 10)))
    let counter = OutboundCounter()
    try channel.pipeline.syncOperations.addHandler(counter, position: .first)
    var bytes = ByteBuffer()
    for index in 0..<100 {
      bytes.writeFrame(.ping, payload: [UInt8](repeating: UInt8(index), count: 8))
    }
    var header = Tally_V1_CallHeader()
    header.method = "tally.v1.Nowhere/Nothing"
    for streamID: UInt32 in 1...100 {
      bytes.writeFrame(Frame(type: .call, streamID: streamID, payload: try Self.payload(header)))
    }
    try channel.writeInbound(bytes)
    channel.embeddedEventLoop.run()
    let frames = try Self.frames(written: channel)
    #expect(frames.filter { $0.type == .ping }.count == 100)
    #expect(frames.filter { $0.type == .status }.count == 100)
    #expect(counter.flushes <= 200 / FlushCoalescer.writesPerFlush + 1, "\(counter.flushes) flushes")
    channel.read()
    #expect(counter.reads == 1, "an operator key's PINGs held back its reads")
  }

  /// A client that sends PINGs or calls and reads none of the answers is read no more while
  /// they back up, so the server does not keep every answer in memory.
  @Test func readsWaitWhileTheAnswersBackUp() throws {
    let channel = try self.welcomedChannel(Router())
    let counter = OutboundCounter()
    try channel.pipeline.syncOperations.addHandler(counter, position: .first)
    channel.read()
    #expect(counter.reads == 1)
    channel.isWritable = false
    channel.pipeline.fireChannelWritabilityChanged()
    channel.read()
    #expect(counter.reads == 1, "read on while the answers backed up")
    channel.isWritable = true
    channel.pipeline.fireChannelWritabilityChanged()
    #expect(counter.reads == 2, "the read held back did not resume")
  }

  /// Opens a call of `method` on stream `streamID`.
  private static func openCall(_ method: String, streamID: UInt32, on channel: EmbeddedChannel) throws {
    var header = Tally_V1_CallHeader()
    header.method = method
    try Self.write(Frame(type: .call, streamID: streamID, payload: try Self.payload(header)), to: channel)
  }

  /// Sends a PingRequest of `size` bytes (at least 3) on `streamID`, then asks to read on.
  private static func send(
    _ size: Int, endStream: Bool = false, streamID: UInt32, on channel: EmbeddedChannel
  ) throws {
    var ping = Tally_V1_PingRequest()
    ping.payload = Data(count: size - 3)  // a tag and a two-byte length
    let frame = Frame(
      type: .message, flags: endStream ? .endStream : [], streamID: streamID, payload: try Self.payload(ping))
    #expect(frame.payload.readableBytes == size)
    try Self.write(frame, to: channel)
    channel.embeddedEventLoop.run()
    channel.read()
  }

  /// A connection's calls that keep their request messages untaken hold at most
  /// `maxHeldRequestBytes` of them in memory: past it, reads wait until a call gives some back.
  /// (Each stream's own limit of 16 buffered messages let 100 streams hold 1,500 messages.)
  @Test func readsWaitWhileTheCallsHoldTheirRequestBytes() throws {
    var router = Router()
    router.clientStreaming(countMethod, access: .anyKey) { _, _ in
      try await Task.sleep(for: .seconds(3_600))  // takes no message
      return Tally_V1_PingResponse()
    }
    router.unary(blockMethod, access: .anyKey) { _, _ in
      try await Task.sleep(for: .seconds(3_600))
      return Tally_V1_PingResponse()
    }
    let channel = try self.welcomedChannel(router, limits: ServerLimits(maxHeldRequestBytes: 1_000))
    let counter = OutboundCounter()
    try channel.pipeline.syncOperations.addHandler(counter, position: .first)
    try Self.openCall(countMethod.fullName, streamID: 1, on: channel)
    try Self.send(400, streamID: 1, on: channel)
    try Self.send(400, streamID: 1, on: channel)
    #expect(counter.reads == 2)
    try Self.send(400, streamID: 1, on: channel)
    #expect(counter.reads == 2, "read on with 1,200 request bytes held")
    try Self.write(Frame(type: .cancel, streamID: 1, payload: ByteBuffer()), to: channel)
    #expect(counter.reads == 3, "the bytes of the cancelled call were not given back")

    // A unary call holds its request until it returns.
    try Self.openCall(blockMethod.fullName, streamID: 3, on: channel)
    try Self.send(600, endStream: true, streamID: 3, on: channel)
    try Self.openCall(blockMethod.fullName, streamID: 5, on: channel)
    try Self.send(600, endStream: true, streamID: 5, on: channel)
    #expect(counter.reads == 4)
    try Self.write(Frame(type: .cancel, streamID: 5, payload: ByteBuffer()), to: channel)
    #expect(counter.reads == 5)
    _ = try? channel.finish()
  }

  /// A call's metadata stays with it until it ends, and counts as held from its request's last
  /// message: before, only more reads let the call go on, so CALLs whose MESSAGE has not come,
  /// however much metadata they bring, never stop the reads (a budget they filled would wait for
  /// ever, and with a tenant's budget, every connection of the tenant with it).
  @Test func aCallsMetadataCountsAsHeldOnceItsRequestIsWhole() throws {
    var router = Router()
    router.unary(blockMethod, access: .anyKey) { _, _ in
      try await Task.sleep(for: .seconds(3_600))
      return Tally_V1_PingResponse()
    }
    let channel = try self.welcomedChannel(router, limits: ServerLimits(maxHeldRequestBytes: 1_000))
    let counter = OutboundCounter()
    try channel.pipeline.syncOperations.addHandler(counter, position: .first)
    var header = Tally_V1_CallHeader()
    header.method = blockMethod.fullName
    header.metadata = ["note": String(repeating: "m", count: 600)]
    #expect(CallMetadata.heldBytes(of: header.metadata) == 652)
    for streamID: UInt32 in [1, 3] {
      try Self.write(Frame(type: .call, streamID: streamID, payload: try Self.payload(header)), to: channel)
      channel.read()
    }
    #expect(counter.reads == 2, "two CALLs waiting for their MESSAGE stopped the reads")
    try Self.send(400, endStream: true, streamID: 1, on: channel)
    #expect(counter.reads == 2, "read on with a running call's 652 bytes of metadata and 400 of request held")
    // A call that ends gives its metadata's bytes back.
    try Self.write(Frame(type: .cancel, streamID: 1, payload: ByteBuffer()), to: channel)
    #expect(counter.reads == 3)
    _ = try? channel.finish()
  }

  /// Metadata whose entries would cost more than `CallMetadata.maxHeldBytes` decoded is refused
  /// with its stream, as an oversized CALL is; the connection stays.
  @Test func metadataOfTooManyEntriesIsRefused() throws {
    var router = Router()
    router.unary(blockMethod, access: .anyKey) { _, _ in Tally_V1_PingResponse() }
    let channel = try self.welcomedChannel(router)
    var header = Tally_V1_CallHeader()
    header.method = blockMethod.fullName
    header.metadata = Dictionary(uniqueKeysWithValues: (0..<700).map { (String($0), "") })
    #expect(try Self.payload(header).readableBytes < Frame.maxCallHeaderPayload)
    try Self.write(Frame(type: .call, streamID: 1, payload: try Self.payload(header)), to: channel)
    channel.embeddedEventLoop.run()
    let written = try Self.frames(written: channel)
    #expect(written.map(\.type) == [.status], "no GOAWAY: the connection stays")
    let status = written.last
    let decoded = try status.map { try Tally_V1_Status(serializedBytes: Array($0.payload.readableBytesView)) }
    #expect(decoded?.code == .resourceExhausted)
    #expect(decoded?.message.contains("(700 entries) counts 35590 bytes") == true, "\(decoded?.message ?? "")")
    _ = try? channel.finish()
  }

  /// The server's connections share one budget of held request bytes: while one connection's
  /// calls hold it all, the others past HELLO read no more, and read on once a call gives bytes
  /// back or a connection closes with its calls. (One key may open 1,000 connections of 16 MiB each.)
  @Test func connectionsWaitWhileTheServersCallsHoldAllTheBytesTheyMay() throws {
    var router = Router()
    router.unary(blockMethod, access: .anyKey) { _, _ in
      try await Task.sleep(for: .seconds(3_600))
      return Tally_V1_PingResponse()
    }
    let dependencies = Self.dependencies(router, limits: ServerLimits(maxServerHeldRequestBytes: 1_000))
    let (busy, other) = (try self.welcomedChannel(dependencies), try self.welcomedChannel(dependencies))
    let (busyReads, otherReads) = (OutboundCounter(), OutboundCounter())
    try busy.pipeline.syncOperations.addHandler(busyReads, position: .first)
    try other.pipeline.syncOperations.addHandler(otherReads, position: .first)
    for streamID: UInt32 in [1, 3] {
      try Self.openCall(blockMethod.fullName, streamID: streamID, on: busy)
      try Self.send(600, endStream: true, streamID: streamID, on: busy)
    }
    #expect(busyReads.reads == 1, "read on with 1,200 request bytes held")
    other.read()
    #expect(otherReads.reads == 0, "another connection read on with the server's budget held")
    // A new connection's HELLO is still read: its handshake would otherwise time out.
    let fresh = EmbeddedChannel(handler: ServerConnectionHandler(dependencies: dependencies))
    let freshReads = OutboundCounter()
    try fresh.pipeline.syncOperations.addHandler(freshReads, position: .first)
    fresh.read()
    #expect(freshReads.reads == 1, "a connection before HELLO waited for the calls' bytes")
    _ = try? fresh.finish()
    try Self.write(Frame(type: .cancel, streamID: 3, payload: ByteBuffer()), to: busy)
    busy.embeddedEventLoop.run()  // each connection is woken on its own event loop
    other.embeddedEventLoop.run()
    #expect(busyReads.reads == 2 && otherReads.reads == 1, "reads did not resume once a call gave its bytes back")

    try Self.openCall(blockMethod.fullName, streamID: 5, on: busy)
    try Self.send(600, endStream: true, streamID: 5, on: busy)
    other.read()
    #expect(otherReads.reads == 1)
    _ = try? busy.finish()
    other.embeddedEventLoop.run()
    #expect(otherReads.reads == 2, "a closed connection's calls kept their bytes")
    #expect(dependencies.serverHeldBytes.held == 0)
    _ = try? other.finish()
  }

  /// A tenant's part of the server's budget is a quarter: while one tenant's calls hold it, that
  /// tenant's other connections wait, and another tenant's read on (one tenant's slow or queued
  /// calls used to stop every tenant's connections at the server's budget).
  @Test func aTenantsConnectionsWaitWhileItsCallsHoldItsPartOfTheBudget() throws {
    var router = Router()
    router.unary(blockMethod, access: .anyKey) { _, _ in
      try await Task.sleep(for: .seconds(3_600))
      return Tally_V1_PingResponse()
    }
    let dependencies = Self.dependencies(
      router, limits: ServerLimits(maxServerHeldRequestBytes: 4_000), authenticator: KeyNamesTenantAuthenticator())
    let busy = try self.welcomedChannel(dependencies, apiKey: "tenant-a")
    let sibling = try self.welcomedChannel(dependencies, apiKey: "tenant-a")
    let other = try self.welcomedChannel(dependencies, apiKey: "tenant-b")
    let (siblingReads, otherReads) = (OutboundCounter(), OutboundCounter())
    try sibling.pipeline.syncOperations.addHandler(siblingReads, position: .first)
    try other.pipeline.syncOperations.addHandler(otherReads, position: .first)
    for streamID: UInt32 in [1, 3] {
      try Self.openCall(blockMethod.fullName, streamID: streamID, on: busy)
      try Self.send(600, endStream: true, streamID: streamID, on: busy)
    }
    sibling.read()
    other.read()
    #expect(siblingReads.reads == 0, "a connection of the tenant holding its part read on")
    #expect(otherReads.reads == 1, "another tenant waited for the first tenant's calls")
    try Self.write(Frame(type: .cancel, streamID: 3, payload: ByteBuffer()), to: busy)
    sibling.embeddedEventLoop.run()
    #expect(siblingReads.reads == 1, "the tenant's reads did not resume once its call gave bytes back")
    for channel in [busy, sibling, other] { _ = try? channel.finish() }
    #expect(dependencies.serverHeldBytes.held == 0)
  }

  /// Closes the channel at its first flush, as NIO does when a socket write fails inside a read.
  private final class CloseOnFlush: ChannelOutboundHandler {
    typealias OutboundIn = NIOAny
    func flush(context: ChannelHandlerContext) {
      context.close(promise: nil)
    }
  }

  /// A connection closed inside a read (a flush's write failed) starts no call from the rest of
  /// that read: nothing would stop such a call, and its request bytes would stay counted in the
  /// server's budget for good.
  @Test func framesAfterACloseInsideTheirReadStartNoCall() throws {
    let started = NIOLockedValueBox(0)
    var router = Router()
    router.unary(blockMethod, access: .anyKey) { _, _ in
      started.withLockedValue { $0 += 1 }
      try await Task.sleep(for: .seconds(3_600))
      return Tally_V1_PingResponse()
    }
    let dependencies = Self.dependencies(router, limits: ServerLimits())
    let channel = try self.welcomedChannel(dependencies)
    try channel.pipeline.syncOperations.addHandler(CloseOnFlush(), position: .first)
    var bytes = ByteBuffer()
    for index in 0..<FlushCoalescer.writesPerFlush {  // the last answer's flush closes the channel
      bytes.writeFrame(.ping, payload: [UInt8](repeating: UInt8(index), count: 8))
    }
    var header = Tally_V1_CallHeader()
    header.method = blockMethod.fullName
    bytes.writeFrame(Frame(type: .call, streamID: 1, payload: try Self.payload(header)))
    var ping = Tally_V1_PingRequest()
    ping.payload = Data(count: 500)
    bytes.writeFrame(Frame(type: .message, flags: .endStream, streamID: 1, payload: try Self.payload(ping)))
    _ = try? channel.writeInbound(bytes)
    channel.embeddedEventLoop.run()
    #expect(!channel.isActive)
    #expect(started.withLockedValue { $0 } == 0, "a call started on a closed connection")
    #expect(dependencies.serverHeldBytes.held == 0, "a closed connection's call kept its bytes")
  }

  /// A server stream re-checks its key before each message it sends: one whose key was revoked
  /// since the call began sends nothing more.
  @Test func aServerStreamRechecksItsKeyBeforeEachMessage() async throws {
    struct Revoked: Error {}
    let channel = try self.welcomedChannel(Router())
    let handler = try channel.pipeline.syncOperations.handler(type: ServerConnectionHandler.self)
    let sink = ServerStreamSink(
      streamID: 1, channel: channel, connection: NIOLoopBound(handler, eventLoop: channel.eventLoop),
      maxFramePayload: 1 << 20, revalidate: { throw Revoked() })
    await #expect(throws: Revoked.self) { try await sink.send(Tally_V1_PingResponse()) }
    #expect(try Self.frames(written: channel).isEmpty, "a message went out after the key was refused")
    _ = try? channel.finish()
  }

  /// Holds every write back, as TLS does before its handshake is done.
  private final class WritesHeldBack: ChannelOutboundHandler {
    typealias OutboundIn = NIOAny
    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {}
    func flush(context: ChannelHandlerContext) {}
  }

  /// A peer that has not finished TLS when the handshake timeout fires could read no GOAWAY: the
  /// connection closes then, not a GOAWAY write timeout later, and frees its handshake place.
  @Test func aPeerSilentForTheHandshakeTimeoutIsClosedThen() throws {
    let limits = ServerLimits()
    let channel = EmbeddedChannel(
      handler: ServerConnectionHandler(dependencies: Self.dependencies(Router(), limits: limits)))
    try channel.pipeline.syncOperations.addHandler(WritesHeldBack(), position: .first)
    var closed = false
    channel.closeFuture.assumeIsolated().whenComplete { _ in closed = true }
    channel.embeddedEventLoop.advanceTime(by: TimeAmount(limits.handshakeTimeout) - .milliseconds(1))
    #expect(!closed)
    channel.embeddedEventLoop.advanceTime(by: .milliseconds(1))
    #expect(closed, "a peer that never finished TLS kept its connection past the handshake timeout")
  }

  /// Keeps writes and their promises until `release`, as a socket whose peer reads slowly does.
  private final class WritesKept: ChannelOutboundHandler {
    typealias OutboundIn = NIOAny
    var kept: [(NIOAny, EventLoopPromise<Void>?)] = []
    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
      self.kept.append((data, promise))
    }
    func flush(context: ChannelHandlerContext) {}
    /// Lets the oldest write through.
    func releaseOne(context: ChannelHandlerContext) {
      let (data, promise) = self.kept.removeFirst()
      context.writeAndFlush(data, promise: promise)
    }
  }

  /// A welcomed connection serving Ping as an echo, whose writes wait in `WritesKept` as for a slow
  /// socket; and a Ping's CALL header.
  private func echoChannelKeepingWrites() throws -> (EmbeddedChannel, WritesKept, Tally_V1_CallHeader) {
    var router = Router()
    router.unary(SystemMethods.ping, access: .anyKey) { request, _ in .with { $0.payload = request.payload } }
    let channel = try self.welcomedChannel(router)
    let kept = WritesKept()
    try channel.pipeline.syncOperations.addHandler(kept, position: .first)
    var header = Tally_V1_CallHeader()
    header.method = SystemMethods.ping.fullName
    return (channel, kept, header)
  }

  /// A drain's last call ends with its STATUS on the wire before the connection closes: a close
  /// at once dropped the answers the socket had not taken yet, and the client never got them.
  @Test func aDrainClosesOnlyOnceItsLastAnswersAreWritten() throws {
    let (channel, kept, header) = try self.echoChannelKeepingWrites()
    var closed = false
    channel.closeFuture.assumeIsolated().whenComplete { _ in closed = true }
    try Self.write(Frame(type: .call, streamID: 1, payload: try Self.payload(header)), to: channel)
    channel.pipeline.fireUserInboundEventTriggered(ServerShutdownEvent())
    channel.embeddedEventLoop.run()
    try Self.write(
      Frame(type: .message, flags: .endStream, streamID: 1, payload: try Self.payload(Tally_V1_PingRequest())),
      to: channel)
    channel.embeddedEventLoop.run()
    #expect(!closed, "the connection closed with its last STATUS still unwritten")
    let keptContext = try channel.pipeline.syncOperations.context(handler: kept)
    #expect(kept.kept.count == 3)  // the GOAWAY, the call's MESSAGE and STATUS, the close's empty write
    kept.releaseOne(context: keptContext)
    channel.embeddedEventLoop.run()
    #expect(!closed, "the connection closed once its GOAWAY was written, before the last STATUS")
    kept.releaseOne(context: keptContext)
    kept.releaseOne(context: keptContext)
    channel.embeddedEventLoop.run()
    #expect(closed)
    #expect(try Self.frames(written: channel).map(\.type) == [.goAway, .message, .status])
  }

  /// A client's GOAWAY that leaves no call open closes the connection once the answers before it
  /// are written: a call answered in the same read still had its MESSAGE and STATUS unwritten.
  @Test func aClientsGoAwayClosesOnlyOnceTheAnswersBeforeItAreWritten() throws {
    let (channel, kept, header) = try self.echoChannelKeepingWrites()
    var closed = false
    channel.closeFuture.assumeIsolated().whenComplete { _ in closed = true }
    var bytes = ByteBuffer()
    bytes.writeFrame(Frame(type: .call, streamID: 1, payload: try Self.payload(header)))
    bytes.writeFrame(
      Frame(type: .message, flags: .endStream, streamID: 1, payload: try Self.payload(Tally_V1_PingRequest())))
    bytes.writeFrame(Frame(type: .goAway, payload: try Self.payload(Tally_V1_GoAway())))
    try channel.writeInbound(bytes)
    channel.embeddedEventLoop.run()
    #expect(!closed, "the connection closed with the call's answer still unwritten")
    let keptContext = try channel.pipeline.syncOperations.context(handler: kept)
    while !kept.kept.isEmpty {
      kept.releaseOne(context: keptContext)
      channel.embeddedEventLoop.run()
    }
    #expect(closed)
    #expect(try Self.frames(written: channel).map(\.type) == [.message, .status])
  }

  /// A graceful shutdown closes a connection still in its TLS handshake at once too: a GOAWAY it
  /// could not read would hold the shutdown for the GOAWAY's write timeout.
  @Test func aShutdownClosesAPeerBeforeTLSAtOnce() throws {
    let channel = EmbeddedChannel(
      handler: ServerConnectionHandler(dependencies: Self.dependencies(Router(), limits: ServerLimits())))
    try channel.pipeline.syncOperations.addHandler(WritesHeldBack(), position: .first)
    var closed = false
    channel.closeFuture.assumeIsolated().whenComplete { _ in closed = true }
    channel.pipeline.fireUserInboundEventTriggered(ServerShutdownEvent())
    channel.embeddedEventLoop.run()
    #expect(closed, "a shutdown waited on a peer that never finished TLS")
  }

  /// A client-streaming handler holds only the message it works on: one that takes each as it
  /// comes is never held up, however many bytes its stream carries.
  @Test func aHandlerGivesEachMessageBackWhenItAsksForTheNext() throws {
    let taken = NIOLockedValueBox(0)
    var router = Router()
    router.clientStreaming(countMethod, access: .anyKey) { requests, _ in
      for try await _ in requests { taken.withLockedValue { $0 += 1 } }
      return Tally_V1_PingResponse()
    }
    let channel = try self.welcomedChannel(router, limits: ServerLimits(maxHeldRequestBytes: 1_000))
    let counter = OutboundCounter()
    try channel.pipeline.syncOperations.addHandler(counter, position: .first)
    try Self.openCall(countMethod.fullName, streamID: 1, on: channel)
    for _ in 0..<10 { try Self.send(600, streamID: 1, on: channel) }
    #expect(counter.reads == 10, "reads waited for bytes the handler was done with")
    #expect(taken.withLockedValue { $0 } == 10)
    try Self.send(600, endStream: true, streamID: 1, on: channel)
    #expect(counter.reads == 11)
    #expect(try Self.frames(written: channel).map(\.type) == [.message, .status])
  }

  /// A frame is timed from the read that brought its first bytes: one whole within
  /// `frameTimeout` is read, one still partial after it ends the connection (GOAWAY IDLE_TIMEOUT),
  /// however many of its bytes trickle in meanwhile.
  @Test func aFrameStillPartialAfterTheFrameTimeoutEndsTheConnection() throws {
    var router = Router()
    router.unary(SystemMethods.ping, access: .anyKey) { _, _ in Tally_V1_PingResponse() }
    let channel = try self.welcomedChannel(router, limits: ServerLimits(frameTimeout: .seconds(60)))
    var closed = false
    channel.closeFuture.assumeIsolated().whenComplete { _ in closed = true }
    var header = Tally_V1_CallHeader()
    header.method = SystemMethods.ping.fullName
    var ping = Tally_V1_PingRequest()
    ping.payload = Data(count: 100)
    func frames(_ streamID: UInt32) throws -> (call: ByteBuffer, message: ByteBuffer) {
      var call = ByteBuffer()
      call.writeFrame(Frame(type: .call, streamID: streamID, payload: try Self.payload(header)))
      var message = ByteBuffer()
      message.writeFrame(Frame(type: .message, flags: .endStream, streamID: streamID, payload: try Self.payload(ping)))
      return (call, message)
    }
    var (call, message) = try frames(1)
    try channel.writeInbound(call)
    try channel.writeInbound(message.readSlice(length: 60)!)
    channel.embeddedEventLoop.advanceTime(by: .seconds(59))
    try channel.writeInbound(message)
    channel.embeddedEventLoop.run()
    #expect(try Self.frames(written: channel).map(\.type) == [.message, .status])

    (call, message) = try frames(3)
    try channel.writeInbound(call)
    for _ in 0..<60 {  // a byte a second of the MESSAGE's 112
      try channel.writeInbound(message.readSlice(length: 1)!)
      channel.embeddedEventLoop.advanceTime(by: .milliseconds(999))
    }
    #expect(!closed, "closed before the frame timeout")
    channel.embeddedEventLoop.advanceTime(by: .milliseconds(60))
    let frames = try Self.frames(written: channel)
    #expect(frames.map(\.type) == [.goAway])
    #expect(try frames.first.map { try Tally_V1_GoAway(decoding: $0.payload).code } == .idleTimeout)
    channel.embeddedEventLoop.run()
    #expect(closed, "a frame trickled in for longer than the frame timeout kept its connection")
  }

  /// A peer that reads none of its answers for `writeStallTimeout` loses the connection; one that
  /// drains them in time keeps it.
  @Test func aConnectionUnwritableForTheStallTimeoutIsClosed() throws {
    let channel = try self.welcomedChannel(Router(), limits: ServerLimits(writeStallTimeout: .seconds(60)))
    var closed = false
    channel.closeFuture.assumeIsolated().whenComplete { _ in closed = true }
    channel.isWritable = false
    channel.pipeline.fireChannelWritabilityChanged()
    channel.embeddedEventLoop.advanceTime(by: .seconds(59))
    channel.isWritable = true
    channel.pipeline.fireChannelWritabilityChanged()
    channel.embeddedEventLoop.advanceTime(by: .seconds(30))
    #expect(!closed, "closed although the peer read in time")
    channel.isWritable = false
    channel.pipeline.fireChannelWritabilityChanged()
    channel.embeddedEventLoop.advanceTime(by: .seconds(59))
    #expect(!closed, "closed before the stall timeout")
    channel.embeddedEventLoop.advanceTime(by: .seconds(1))
    #expect(closed, "a peer that reads nothing kept its connection")
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
      handler: ServerConnectionHandler(dependencies: Self.dependencies(router, limits: ServerLimits())))
    var header = Tally_V1_CallHeader()
    header.method = SystemMethods.ping.fullName
    var ping = Tally_V1_PingRequest()
    ping.payload = Data([1, 2, 3])
    var bytes = try Self.helloBytes()
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
