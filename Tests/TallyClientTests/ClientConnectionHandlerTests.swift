import NIOCore
import NIOEmbedded
import SwiftProtobuf
import TallyProto
import TallyWire
import Testing

@testable import TallyClient

/// The client's connection handler without I/O: how calls are sent and how a single-response
/// call's MESSAGE and STATUS frames complete it.
@Suite struct ClientConnectionHandlerTests {
  /// A handler in an embedded channel that has sent its magic and HELLO, and waits for WELCOME.
  private func connectedHandler(handshakeTimeout: Duration = .seconds(60)) throws -> (
    EmbeddedChannel, ClientConnectionHandler, EventLoopFuture<Tally_V1_Welcome>
  ) {
    let channel = EmbeddedChannel()
    let welcome = channel.eventLoop.makePromise(of: Tally_V1_Welcome.self)
    let handler = ClientConnectionHandler(
      hello: Tally_V1_Hello(), endpoint: "test", welcome: welcome, handshakeTimeout: handshakeTimeout)
    try channel.pipeline.syncOperations.addHandler(handler)
    try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
    #expect(try channel.readOutbound(as: ByteBuffer.self) != nil, "no magic and HELLO")
    return (channel, handler, welcome.futureResult)
  }

  /// A handler in an embedded channel that has sent its HELLO and had its WELCOME.
  private func welcomedHandler(_ welcomeMessage: Tally_V1_Welcome = .init()) throws -> (
    EmbeddedChannel, ClientConnectionHandler
  ) {
    let (channel, handler, _) = try self.connectedHandler()
    try Self.send(Self.welcome(welcomeMessage), to: channel)
    return (channel, handler)
  }

  private static func welcome(_ message: Tally_V1_Welcome) throws -> Frame {
    Frame(type: .welcome, payload: ByteBuffer(bytes: try message.serializedBytes() as [UInt8]))
  }

  /// The frames the handler has written since the last look.
  private static func written(_ channel: EmbeddedChannel) throws -> [Frame] {
    var written: [ByteBuffer] = []
    while let buffer = try channel.readOutbound(as: ByteBuffer.self) { written.append(buffer) }
    return try Self.decode(written)
  }

  /// Starts a unary call; its response goes to the returned future.
  private func startUnary(
    _ handler: ClientConnectionHandler, on channel: EmbeddedChannel, timeout: Duration? = nil
  ) -> EventLoopFuture<ByteBuffer?> {
    var header = Tally_V1_CallHeader()
    header.method = "tally.v1.SystemService/Ping"
    let promise = channel.eventLoop.makePromise(of: ByteBuffer?.self)
    handler.startCall(
      .init(
        header: header, messages: [[1, 2, 3]], endStream: true, handle: StreamHandle(), timeout: timeout,
        responses: .single(promise)))
    return promise.futureResult
  }

  private func status(_ code: Tally_V1_StatusCode, streamID: UInt32) throws -> Frame {
    var status = Tally_V1_Status()
    status.code = code
    status.message = code == .ok ? "" : "no such thing"
    return Frame(type: .status, streamID: streamID, payload: ByteBuffer(bytes: try status.serializedBytes() as [UInt8]))
  }

  /// Sends `frame` to the handler as the bytes a server writes.
  private static func send(_ frame: Frame, to channel: EmbeddedChannel) throws {
    var bytes = ByteBuffer()
    bytes.writeFrame(frame)
    try channel.writeInbound(bytes)
  }

  /// The frames in what the handler wrote, as the server's decoder reads them.
  private static func decode(_ buffers: [ByteBuffer]) throws -> [Frame] {
    let decoder = EmbeddedChannel(handler: ByteToMessageHandler(FrameDecoder(expectsMagic: false)))
    for buffer in buffers { try decoder.writeInbound(buffer) }
    var frames: [Frame] = []
    while let frame = try decoder.readInbound(as: Frame.self) { frames.append(frame) }
    return frames
  }

  @Test func callsStartedInOneTickShareOneFlush() throws {
    let (channel, handler) = try self.welcomedHandler()
    _ = self.startUnary(handler, on: channel)
    _ = self.startUnary(handler, on: channel)
    #expect(try channel.readOutbound(as: ByteBuffer.self) == nil, "a call was flushed on its own")
    channel.embeddedEventLoop.run()
    var written: [ByteBuffer] = []
    while let buffer = try channel.readOutbound(as: ByteBuffer.self) { written.append(buffer) }
    let frames = try Self.decode(written)
    #expect(frames.map(\.type) == [.call, .message, .call, .message])
    #expect(frames.map(\.streamID) == [1, 1, 2, 2])
    #expect(frames[1].payload == ByteBuffer(bytes: [1, 2, 3]))
  }

  @Test func singleResponseIsTheMessageOnceStatusSaysOK() throws {
    let (channel, handler) = try self.welcomedHandler()
    let response = self.startUnary(handler, on: channel)
    var completed = false
    response.assumeIsolated().whenComplete { _ in completed = true }
    channel.embeddedEventLoop.run()
    try Self.send(Frame(type: .message, streamID: 1, payload: ByteBuffer(string: "only")), to: channel)
    #expect(!completed, "completed before its STATUS")
    try Self.send(try self.status(.ok, streamID: 1), to: channel)
    #expect(try response.wait() == ByteBuffer(string: "only"))
  }

  @Test func aSecondResponseMessageFailsASingleResponseCall() throws {
    let (channel, handler) = try self.welcomedHandler()
    let response = self.startUnary(handler, on: channel)
    channel.embeddedEventLoop.run()
    try Self.send(Frame(type: .message, streamID: 1, payload: ByteBuffer(string: "first")), to: channel)
    try Self.send(Frame(type: .message, streamID: 1, payload: ByteBuffer(string: "second")), to: channel)
    try Self.send(try self.status(.ok, streamID: 1), to: channel)
    #expect {
      try response.wait()
    } throws: { error in
      (error as? RPCError)?.code == .internalError
    }
    #expect(channel.isActive, "one call's fault, not the connection's")
  }

  /// Frames that break PROTOCOL.md §3 or §4 coming from the server: the client answers GOAWAY
  /// PROTOCOL_ERROR and closes, as the server does to a client, and the calls in flight fail.
  @Test(arguments: [
    ("MESSAGE on stream 0", Frame(type: .message, streamID: 0, payload: ByteBuffer(string: "x"))),
    ("STATUS with END_STREAM", Frame(type: .status, flags: .endStream, streamID: 1, payload: ByteBuffer())),
    ("a short PING", Frame(type: .ping, payload: ByteBuffer(bytes: [1, 2, 3, 4]))),
    ("WELCOME on a stream", Frame(type: .welcome, streamID: 3, payload: ByteBuffer())),
    ("a second WELCOME", Frame(type: .welcome, payload: ByteBuffer())),
    ("CALL from the server", Frame(type: .call, streamID: 2, payload: ByteBuffer())),
    ("MESSAGE on a stream never opened", Frame(type: .message, streamID: 2, payload: ByteBuffer(string: "x"))),
    ("STATUS on a stream never opened", Frame(type: .status, streamID: 7, payload: ByteBuffer())),
  ])
  func aServerBreakingTheFramingRulesGetsProtocolError(_ name: String, _ frame: Frame) throws {
    let (channel, handler) = try self.welcomedHandler()
    var outcome: Result<ByteBuffer?, any Error>?
    self.startUnary(handler, on: channel).assumeIsolated().whenComplete { outcome = $0 }
    channel.embeddedEventLoop.run()
    while try channel.readOutbound(as: ByteBuffer.self) != nil {}
    try Self.send(frame, to: channel)
    try Self.expectProtocolError(written: channel, name)
    // Checked without waiting: a handler that let the frame pass would leave the call open.
    guard case .failure(let error) = outcome else {
      Issue.record("\(name): the call in flight did not fail: \(String(describing: outcome))")
      return
    }
    #expect(error is RPCError, "\(name)")
  }

  /// A frame of a stream that has ended crossed its end (PROTOCOL.md §3): it is ignored.
  @Test func framesOfAnEndedStreamAreIgnored() throws {
    let (channel, handler) = try self.welcomedHandler()
    let response = self.startUnary(handler, on: channel)
    channel.embeddedEventLoop.run()
    try Self.send(try self.status(.notFound, streamID: 1), to: channel)
    #expect(throws: RPCError.self) { try response.wait() }
    try Self.send(Frame(type: .message, streamID: 1, payload: ByteBuffer(string: "late")), to: channel)
    try Self.send(try self.status(.ok, streamID: 1), to: channel)
    #expect(channel.isActive)
    #expect(try Self.written(channel).map(\.type) == [.call, .message], "no GOAWAY")
  }

  /// Before WELCOME one call is sent and the rest wait: the server's max_concurrent_streams may
  /// be below the protocol's default, and a call over it would be refused.
  @Test func callsBeyondTheFirstWaitForWelcome() throws {
    let (channel, handler, _) = try self.connectedHandler()
    for _ in 0..<3 { _ = self.startUnary(handler, on: channel) }
    channel.embeddedEventLoop.run()
    #expect(try Self.written(channel).map(\.streamID) == [1, 1], "only the first call before WELCOME")
    var limits = Tally_V1_Welcome()
    limits.maxConcurrentStreams = 2
    try Self.send(Self.welcome(limits), to: channel)
    channel.embeddedEventLoop.run()
    #expect(try Self.written(channel).map(\.streamID) == [2, 2], "the second fills WELCOME's two streams")
  }

  @Test func aStatusBeforeWelcomeGetsProtocolError() throws {
    let (channel, _, welcome) = try self.connectedHandler()
    try Self.send(try self.status(.ok, streamID: 1), to: channel)
    try Self.expectProtocolError(written: channel, "STATUS before WELCOME")
    var failed = false
    welcome.assumeIsolated().whenFailure { _ in failed = true }
    #expect(failed, "WELCOME is still awaited")
  }

  /// The handler's last frame is GOAWAY PROTOCOL_ERROR, and it closed the connection.
  private static func expectProtocolError(
    written channel: EmbeddedChannel, _ name: String, sourceLocation: SourceLocation = #_sourceLocation
  ) throws {
    var written: [ByteBuffer] = []
    while let buffer = try channel.readOutbound(as: ByteBuffer.self) { written.append(buffer) }
    let goAway = try Self.decode(written).last.flatMap { frame in
      frame.type == .goAway ? try Tally_V1_GoAway(serializedBytes: Array(frame.payload.readableBytesView)) : nil
    }
    #expect(goAway?.code == .protocolError, "\(name)", sourceLocation: sourceLocation)
    #expect(!channel.isActive, "\(name): still open", sourceLocation: sourceLocation)
  }

  @Test func statusOKWithoutAMessageGivesNoResponse() throws {
    let (channel, handler) = try self.welcomedHandler()
    let response = self.startUnary(handler, on: channel)
    channel.embeddedEventLoop.run()
    try Self.send(try self.status(.ok, streamID: 1), to: channel)
    #expect(try response.wait() == nil)
  }

  @Test func anErrorStatusFailsTheCallEvenAfterAMessage() throws {
    let (channel, handler) = try self.welcomedHandler()
    let response = self.startUnary(handler, on: channel)
    channel.embeddedEventLoop.run()
    try Self.send(Frame(type: .message, streamID: 1, payload: ByteBuffer(string: "partial")), to: channel)
    try Self.send(try self.status(.notFound, streamID: 1), to: channel)
    #expect {
      try response.wait()
    } throws: { error in
      (error as? RPCError)?.code == .notFound && (error as? RPCError)?.message == "no such thing"
    }
  }

  /// The limit WELCOME announces is the one the client reads by: above the 4 MiB default when
  /// the server allows more, and below it when the server allows less.
  @Test(arguments: [(8 << 20, 5 << 20, true), (1_024, 2_048, false)])
  func framesAreReadByTheLimitWelcomeAnnounced(limit: Int, length: Int, accepted: Bool) throws {
    var welcome = Tally_V1_Welcome()
    welcome.maxFramePayload = UInt32(limit)
    let (channel, handler) = try self.welcomedHandler(welcome)
    let response = self.startUnary(handler, on: channel)
    channel.embeddedEventLoop.run()
    while try channel.readOutbound(as: ByteBuffer.self) != nil {}
    // Drip-fed in two reads, so the frame is also completed from bytes held over.
    var bytes = ByteBuffer()
    bytes.writeFrame(Frame(type: .message, streamID: 1, payload: ByteBuffer(repeating: 7, count: length)))
    bytes.writeFrame(try self.status(.ok, streamID: 1))
    try channel.writeInbound(bytes.readSlice(length: 1_000)!)
    try channel.writeInbound(bytes)
    if accepted {
      #expect(try response.wait()?.readableBytes == length)
    } else {
      let written = try channel.readOutbound(as: ByteBuffer.self)
      let goAway = try Self.decode([try #require(written)])
      #expect(goAway.map(\.type) == [.goAway])
      #expect(try Tally_V1_GoAway(serializedBytes: Array(buffer: goAway[0].payload)).code == .frameTooLarge)
      #expect(throws: RPCError.self) { try response.wait() }
    }
  }

  /// A client-streaming message too large for the server ends its own call, not the connection.
  @Test func anOversizedStreamedMessageFailsItsCallAndCancelsIt() throws {
    var welcome = Tally_V1_Welcome()
    welcome.maxFramePayload = 1_024
    let (channel, handler) = try self.welcomedHandler(welcome)
    var header = Tally_V1_CallHeader()
    header.method = "tally.v1.EventService/RecordEvents"
    let promise = channel.eventLoop.makePromise(of: ByteBuffer?.self)
    let handle = StreamHandle()
    handler.startCall(
      .init(header: header, messages: [], endStream: false, handle: handle, timeout: nil, responses: .single(promise)))
    handler.sendMessage(Array(repeating: 1, count: 2_048), endStream: true, handle: handle)
    channel.embeddedEventLoop.run()
    var written: [ByteBuffer] = []
    while let buffer = try channel.readOutbound(as: ByteBuffer.self) { written.append(buffer) }
    #expect(try Self.decode(written).map(\.type) == [.call, .cancel])
    #expect {
      try promise.futureResult.wait()
    } throws: { error in
      (error as? RPCError)?.code == .resourceExhausted
    }
    #expect(channel.isActive, "the connection stays up")
  }

  /// A call waiting behind the server's max_concurrent_streams counts its deadline from when it
  /// was made: it fails with DEADLINE_EXCEEDED while still waiting, and leaves the queue.
  @Test func aQueuedCallFailsWhenItsDeadlinePasses() throws {
    var welcome = Tally_V1_Welcome()
    welcome.maxConcurrentStreams = 1
    let (channel, handler) = try self.welcomedHandler(welcome)
    _ = self.startUnary(handler, on: channel)
    var outcome: Result<ByteBuffer?, any Error>?
    self.startUnary(handler, on: channel, timeout: .milliseconds(200)).assumeIsolated().whenComplete {
      outcome = $0
    }
    channel.embeddedEventLoop.advanceTime(by: .milliseconds(199))
    #expect(outcome == nil, "failed before its deadline")
    channel.embeddedEventLoop.advanceTime(by: .milliseconds(1))
    guard case .failure(let error as RPCError) = outcome else {
      Issue.record("the queued call did not fail: \(String(describing: outcome))")
      return
    }
    #expect(error.code == .deadlineExceeded)
    #expect(error.message.contains("waited for one of the server's 1 streams"))
    // Stream 1 ends; the call that timed out must not take its place.
    try Self.send(try self.status(.ok, streamID: 1), to: channel)
    channel.embeddedEventLoop.run()
    var written: [ByteBuffer] = []
    while let buffer = try channel.readOutbound(as: ByteBuffer.self) { written.append(buffer) }
    #expect(try Self.decode(written).map(\.type) == [.call, .message])
  }

  /// Calls queued behind the server's streams when the ids run out are refused unsent (retried on
  /// a new connection), not opened past UInt32.max (the id's increment trapped).
  @Test func queuedCallsPastTheLastStreamIDAreRefusedUnsent() throws {
    var welcome = Tally_V1_Welcome()
    welcome.maxConcurrentStreams = 1
    let (channel, handler) = try self.welcomedHandler(welcome)
    handler.nextStreamID = UInt32.max - 2
    _ = self.startUnary(handler, on: channel)
    // Both queued while ids were left; the first takes the last one.
    var outcomes: [Result<ByteBuffer?, any Error>] = []
    for _ in 0..<2 {
      self.startUnary(handler, on: channel).assumeIsolated().whenComplete { outcomes.append($0) }
    }
    channel.embeddedEventLoop.run()
    let first = try Self.written(channel).map { "\($0.type) \(UInt32.max - $0.streamID)" }
    #expect(first == ["CALL 2", "MESSAGE 2"])
    try Self.send(try self.status(.ok, streamID: UInt32.max - 2), to: channel)
    channel.embeddedEventLoop.run()
    let second = try Self.written(channel).map { "\($0.type) \(UInt32.max - $0.streamID)" }
    #expect(second == ["CALL 1", "MESSAGE 1"])
    try Self.send(try self.status(.ok, streamID: UInt32.max - 1), to: channel)
    channel.embeddedEventLoop.run()
    #expect(outcomes.count == 2)
    guard outcomes.count == 2, case .failure(let refused as RefusedBeforeStart) = outcomes[1] else {
      Issue.record("the call past the last id was not refused: \(outcomes)")
      return
    }
    #expect(refused.reason.message == "the connection to test has used every stream id")
    let third = try Self.written(channel).map { "\($0.type) \(UInt32.max - $0.streamID)" }
    #expect(third.isEmpty, "sent past the last id: \(third)")
  }

  /// A call started after a GOAWAY UNAUTHENTICATED fails with it: sent again on a new connection,
  /// it would only meet the same refusal (and count a second refused HELLO).
  @Test func aCallAfterAFinalGoAwayFailsWithIt() throws {
    let (channel, handler) = try self.welcomedHandler()
    var goAway = Tally_V1_GoAway()
    goAway.code = .unauthenticated
    goAway.message = "unknown API key"
    try Self.send(
      Frame(type: .goAway, payload: ByteBuffer(bytes: try goAway.serializedBytes() as [UInt8])), to: channel)
    let response = self.startUnary(handler, on: channel)
    channel.embeddedEventLoop.run()
    #expect {
      try response.wait()
    } throws: { error in
      (error as? RPCError)?.code == .unauthenticated
    }
  }

  @Test func aLostConnectionFailsTheCallsInFlight() throws {
    let (channel, handler) = try self.welcomedHandler()
    let response = self.startUnary(handler, on: channel)
    channel.embeddedEventLoop.run()
    try channel.close().wait()
    #expect {
      try response.wait()
    } throws: { error in
      (error as? RPCError)?.code == .unavailable
    }
  }

  /// Starts a server-streaming call whose responses nobody reads yet; returns them.
  private func startServerStream(
    _ handler: ClientConnectionHandler, on channel: EmbeddedChannel
  ) -> ResponsePayloads {
    var header = Tally_V1_CallHeader()
    header.method = "tally.v1.EventService/ListEvents"
    let handle = StreamHandle()
    let payloads = ResponseBuffer.make(
      demand: ResponseDemand(handler: NIOLoopBound(handler, eventLoop: channel.eventLoop), handle: handle))
    handler.startCall(
      .init(
        header: header, messages: [[]], endStream: true, handle: handle, timeout: nil,
        responses: .stream(payloads.source)))
    channel.embeddedEventLoop.run()
    return payloads.sequence
  }

  /// Counts the reads the connection handler passes on towards the socket.
  private final class ReadCounter: ChannelOutboundHandler {
    typealias OutboundIn = ByteBuffer
    var reads = 0
    func read(context: ChannelHandlerContext) {
      self.reads += 1
      context.read()
    }
  }

  /// The responses a stream's caller has not read are bounded: at 16 the connection stops
  /// reading (TCP then holds the server back), and reads again once the caller stops reading.
  @Test func sixteenUnreadResponsesHoldTheConnectionsReads() throws {
    let (channel, handler) = try self.welcomedHandler()
    let counter = ReadCounter()
    try channel.pipeline.syncOperations.addHandler(counter, position: .first)
    var responses: ResponsePayloads? = self.startServerStream(handler, on: channel)
    for number in 1...ResponseBuffer.highWatermark {
      channel.read()
      #expect(counter.reads == number, "read held with \(number - 1) responses unread")
      try Self.send(Frame(type: .message, streamID: 1, payload: ByteBuffer(bytes: [UInt8(number)])), to: channel)
    }
    channel.read()
    #expect(counter.reads == ResponseBuffer.highWatermark, "read with 16 responses unread")
    #expect(responses != nil)
    responses = nil
    channel.embeddedEventLoop.run()
    #expect(counter.reads == ResponseBuffer.highWatermark + 1, "the held read was not made once the caller left")
  }

  /// A stream that ends holds nothing back: its responses wait for its caller, the connection
  /// reads on for the others. So does one this side cancels.
  @Test(arguments: [true, false])
  func anEndedStreamNoLongerHoldsReads(byStatus: Bool) throws {
    let (channel, handler) = try self.welcomedHandler()
    let counter = ReadCounter()
    try channel.pipeline.syncOperations.addHandler(counter, position: .first)
    let responses = self.startServerStream(handler, on: channel)
    for number in 1...ResponseBuffer.highWatermark {
      try Self.send(Frame(type: .message, streamID: 1, payload: ByteBuffer(bytes: [UInt8(number)])), to: channel)
    }
    channel.read()
    #expect(counter.reads == 0)
    if byStatus {
      try Self.send(try self.status(.ok, streamID: 1), to: channel)
    } else {
      // The caller's call is cancelled (its deadline, say): CANCEL, and the stream is forgotten.
      let handle = StreamHandle()
      handle.streamID = 1
      handler.cancel(handle)
    }
    #expect(counter.reads == 1, "the read stayed held after the stream ended")
    withExtendedLifetime(responses) {}
  }

  /// The handshake's clock starts when TCP has connected: a slow connect (with a timeout of its
  /// own) does not eat the time TLS and HELLO have.
  @Test func theHandshakeClockStartsOnceConnected() throws {
    let channel = EmbeddedChannel()
    let handler = ClientConnectionHandler(
      hello: Tally_V1_Hello(), endpoint: "test", welcome: channel.eventLoop.makePromise(),
      handshakeTimeout: .seconds(5))
    try channel.pipeline.syncOperations.addHandler(handler)
    channel.embeddedEventLoop.advanceTime(by: .seconds(10))
    try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
    channel.embeddedEventLoop.advanceTime(by: .seconds(4))
    #expect(channel.isActive, "closed before its handshake had its 5 s")
    channel.embeddedEventLoop.advanceTime(by: .seconds(2))
    #expect(!channel.isActive, "still open 6 s into its handshake")
  }

  /// A client that stops waiting for WELCOME cannot tell whether the server sent it and started
  /// the call sent with HELLO: that call fails, and is not sent again; the calls queued behind it
  /// never left, and may be.
  @Test func aCallSentWithHelloIsNotSentAgainWhenWelcomeIsLate() throws {
    let (channel, handler, _) = try self.connectedHandler(handshakeTimeout: .seconds(5))
    let sent = self.startUnary(handler, on: channel)
    let queued = self.startUnary(handler, on: channel)
    channel.embeddedEventLoop.advanceTime(by: .seconds(5))
    #expect(!channel.isActive)
    #expect {
      try sent.wait()
    } throws: { error in
      (error as? RPCError)?.code == .unavailable && "\(error)".contains("may have run")
    }
    #expect(throws: RefusedBeforeStart.self) { try queued.wait() }
  }

  /// Keeps every write pending: a GOAWAY the socket has not taken yet.
  private final class WriteHolder: ChannelOutboundHandler {
    typealias OutboundIn = ByteBuffer
    var held: [EventLoopPromise<Void>?] = []
    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
      self.held.append(promise)
    }
    func flush(context: ChannelHandlerContext) {}
  }

  /// Between a protocol error and the close that follows its GOAWAY, a new call is refused unsent
  /// (and so may go to a new connection) rather than sent on a connection about to fail it.
  @Test func aFailingConnectionTakesNoNewCall() throws {
    let (channel, handler) = try self.welcomedHandler()
    try channel.pipeline.syncOperations.addHandler(WriteHolder(), position: .first)
    try Self.send(try self.status(.ok, streamID: 9), to: channel)
    #expect(channel.isActive, "the GOAWAY is still being written")
    var refusedUnsent = false
    self.startUnary(handler, on: channel).assumeIsolated().whenFailure { refusedUnsent = $0 is RefusedBeforeStart }
    channel.embeddedEventLoop.run()
    #expect(refusedUnsent, "the call was sent on the failing connection")
  }
}
