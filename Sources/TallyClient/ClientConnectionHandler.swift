import DequeModule
import NIOConcurrencyHelpers
import NIOCore
import NIOSSL
import SwiftProtobuf
import TallyProto
import TallyWire

/// A call that never reached a handler because the connection was going away: safe to send again.
struct RefusedBeforeStart: Error {
  var reason: RPCError
  /// True when the server may still be busy or gone (an OVERLOADED GOAWAY, a lost connection): the
  /// call waits a back-off before it is sent again, instead of at once.
  var backOff = false
}

/// The caller's handle on one stream: its id once the event loop has assigned one.
final class StreamHandle: Sendable {
  private struct State {
    var streamID: UInt32?
    var queued = false
    var cancelled = false
  }
  private let state = NIOLockedValueBox(State())

  var streamID: UInt32? {
    get { self.state.withLockedValue { $0.streamID } }
    set { self.state.withLockedValue { $0.streamID = newValue } }
  }
  /// Waiting for a free stream (set and read on the event loop).
  var queued: Bool {
    get { self.state.withLockedValue { $0.queued } }
    set { self.state.withLockedValue { $0.queued = newValue } }
  }
  var cancelled: Bool {
    get { self.state.withLockedValue { $0.cancelled } }
    set { self.state.withLockedValue { $0.cancelled = newValue } }
  }
}

/// Whether a connection may take new calls; read by the client from any thread.
final class ConnectionStatus: Sendable {
  private let usable = NIOLockedValueBox(true)
  var isUsable: Bool { self.usable.withLockedValue { $0 } }
  func markUnusable() { self.usable.withLockedValue { $0 = false } }
}

/// The client's side of one connection: sends the magic and HELLO, numbers streams, and routes
/// MESSAGE and STATUS frames to the calls waiting for them.
final class ClientConnectionHandler: ChannelDuplexHandler {
  typealias InboundIn = ByteBuffer
  typealias OutboundIn = ByteBuffer
  typealias OutboundOut = ByteBuffer

  private let hello: Tally_V1_Hello
  private let endpoint: String
  let welcome: EventLoopPromise<Tally_V1_Welcome>
  let status: ConnectionStatus
  private var context: ChannelHandlerContext?
  /// Internal so that a test can start near the last id.
  var nextStreamID: UInt32 = 1
  private var streams: [UInt32: ResponseRoute] = [:]
  /// Streams this side ended (CANCEL) whose STATUS has not arrived: the server still counts them.
  private var endingStreams: Set<UInt32> = []
  /// Calls waiting for a free stream under the server's max_concurrent_streams.
  private var queuedCalls: Deque<QueuedCall> = []
  /// One until WELCOME says how many: a server set below the protocol's default of 100 would
  /// refuse the rest of a burst sent before its WELCOME, and those calls would fail.
  private var maxConcurrentStreams = 1
  private var deadlineTimers: [UInt32: Scheduled<Void>] = [:]
  /// Server streams whose caller has `ResponseBuffer.highWatermark` responses unread: while there
  /// is one, the connection is not read (as the server does with a full request buffer).
  private var fullResponseBuffers: Set<UInt32> = []
  /// NIO asked for a read while a buffer was full: it is made once none is.
  private var readPending = false
  private var goAwayLastStreamID: UInt32?
  /// Why the connection ended, for the calls still waiting.
  private var closeReason: RPCError?
  /// Set by a GOAWAY no new connection would change (a refused key): calls that come after it
  /// fail with it, rather than be sent again to meet the same refusal.
  private var finalRefusal: RPCError?
  private var writabilityWaiters = WritabilityWaiters()
  private let flushes = FlushCoalescer()
  /// The frame decoder, run here rather than in a `ByteToMessageHandler` of its own (as the
  /// server does: no generic handler code or `NIOAny` trip per frame), one frame at a time, so
  /// that WELCOME's `max_frame_payload` holds from the frame after it.
  private var decoder = FrameDecoder(expectsMagic: false)
  /// Bytes of a frame not yet complete.
  private var unread: ByteBuffer?
  /// The bytes broke the protocol: the connection is failing and reads no more.
  private var bytesRefused = false
  private var welcomed = false
  /// The server's payload limit from WELCOME (the protocol default until then).
  private(set) var maxFramePayload = Frame.defaultMaxPayload

  private let handshakeTimeout: Duration
  private var handshakeTimer: Scheduled<Void>?
  /// The client stopped waiting for WELCOME: the server may have sent it after all, and started
  /// the call sent with HELLO, so that call is not sent again.
  private var gaveUpOnWelcome = false
  private var goAwayCloseTimer: Scheduled<Void>?

  init(
    hello: Tally_V1_Hello,
    endpoint: String,
    welcome: EventLoopPromise<Tally_V1_Welcome>,
    handshakeTimeout: Duration
  ) {
    self.hello = hello
    self.endpoint = endpoint
    self.welcome = welcome
    self.status = ConnectionStatus()
    self.handshakeTimeout = handshakeTimeout
  }

  func handlerAdded(context: ChannelHandlerContext) {
    self.context = context
    if context.channel.isActive { self.sendHello(context: context) }
  }

  func channelActive(context: ChannelHandlerContext) {
    self.sendHello(context: context)
    context.fireChannelActive()
  }

  /// TLS and HELLO must complete in time, or the calls waiting on this connection fail. The clock
  /// starts once TCP has connected: the connect has a timeout of its own.
  private func startHandshakeTimer(context: ChannelHandlerContext) {
    guard self.handshakeTimer == nil else { return }
    self.handshakeTimer = context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(self.handshakeTimeout)) {
      self.status.markUnusable()
      self.gaveUpOnWelcome = true
      self.closeReason = RPCError(
        code: .unavailable,
        message: "no WELCOME from \(self.endpoint) within \(self.handshakeTimeout)"
      )
      context.close(promise: nil)
    }
  }

  private var helloSent = false
  private func sendHello(context: ChannelHandlerContext) {
    guard !self.helloSent else { return }
    self.helloSent = true
    self.startHandshakeTimer(context: context)
    let payload: [UInt8] = (try? self.hello.serializedBytes()) ?? []
    var buffer = context.channel.allocator.buffer(capacity: 8 + Frame.headerLength + payload.count)
    buffer.writeBytes(ConnectionMagic.bytes)
    buffer.writeFrame(.hello, payload: payload)
    context.writeAndFlush(self.wrapOutboundOut(buffer), promise: nil)
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    guard !self.bytesRefused else { return }
    var bytes = self.unwrapInboundIn(data)
    if var unread = self.unread {
      self.unread = nil
      unread.writeBuffer(&bytes)
      bytes = unread
    }
    do {
      while !self.bytesRefused, let frame = try self.decoder.decode(buffer: &bytes) {
        self.received(frame, context: context)
      }
    } catch {
      return self.errorCaught(context: context, error: error)
    }
    if bytes.readableBytes > 0 { self.unread = bytes }
  }

  private func received(_ frame: Frame, context: ChannelHandlerContext) {
    // The server is held to the rules it holds clients to (PROTOCOL.md §3 and §4).
    if let error = frame.shapeError { return self.fail(error) }
    if !self.welcomed, frame.type == .message || frame.type == .status {
      return self.fail(ConnectionError(.protocolError, "\(frame.type) before WELCOME"))
    }
    // A frame of an ended stream is a race with its end; one of a stream never opened is a fault.
    if frame.type == .message || frame.type == .status, frame.streamID >= self.nextStreamID {
      return self.fail(
        ConnectionError(.protocolError, "\(frame.type) on stream \(frame.streamID), which was never opened"))
    }
    switch frame.type {
    case .welcome:
      guard !self.welcomed else { return self.fail(ConnectionError(.protocolError, "a second WELCOME")) }
      self.welcomed = true
      guard let welcome = try? Tally_V1_Welcome(decoding: frame.payload) else {
        return self.fail(ConnectionError(.protocolError, "WELCOME payload is not a valid tally.v1.Welcome"))
      }
      if welcome.maxFramePayload > 0 {
        self.maxFramePayload = Int(welcome.maxFramePayload)
        self.decoder.maxPayload = self.maxFramePayload
      }
      self.maxConcurrentStreams = welcome.maxConcurrentStreams > 0 ? Int(welcome.maxConcurrentStreams) : 100
      self.handshakeTimer?.cancel()
      self.welcome.succeed(welcome)
      self.startQueuedCalls()
    case .message:
      if self.streams[frame.streamID]?.received(frame.payload) == false {
        self.fullResponseBuffers.insert(frame.streamID)
      }
    case .status:
      if self.endingStreams.remove(frame.streamID) != nil { self.startQueuedCalls() }
      guard let responses = self.forget(frame.streamID) else { return }
      defer { self.startQueuedCalls() }
      let status = (try? Tally_V1_Status(decoding: frame.payload)) ?? Self.undecodableStatus
      if status.code == .ok {
        responses.finish()
      } else {
        responses.finish(throwing: RPCError(status: status))
      }
    case .ping:
      guard !frame.flags.contains(.ack) else { return }
      var buffer = context.channel.allocator.buffer(capacity: Frame.headerLength + 8)
      buffer.writeFrame(.ping, flags: .ack, payload: frame.payload)
      context.writeAndFlush(self.wrapOutboundOut(buffer), promise: nil)
    case .goAway:
      // An unreadable GOAWAY says nothing of which calls ran: none is sent again.
      guard let goAway = try? Tally_V1_GoAway(decoding: frame.payload) else {
        return self.receivedGoAway(
          ConnectionError(.protocolError, "GOAWAY payload is not a valid tally.v1.GoAway"), lastStreamID: .max)
      }
      self.receivedGoAway(ConnectionError(goAway: goAway), lastStreamID: goAway.lastStreamID)
    case .hello, .call, .cancel:
      self.fail(ConnectionError(.protocolError, "a server may not send \(frame.type)"))
    }
  }

  private static var undecodableStatus: Tally_V1_Status {
    var status = Tally_V1_Status()
    status.code = .internal
    status.message = "the server sent a STATUS that is not a valid tally.v1.Status"
    return status
  }

  private func receivedGoAway(_ error: ConnectionError, lastStreamID: UInt32) {
    self.status.markUnusable()
    self.goAwayLastStreamID = lastStreamID
    self.closeReason = Self.rpcError(for: error, endpoint: self.endpoint)
    self.welcome.fail(self.closeReason!)
    // Calls above last_stream_id never reached a handler. After a graceful GOAWAY they may be
    // sent again on a new connection; after an error (a bad key, say) they fail with it.
    let retryable: Set<ConnectionError.Code> = [.noError, .shuttingDown, .idleTimeout, .overloaded]
    if !retryable.contains(error.code) { self.finalRefusal = self.closeReason }
    let refusal: any Error =
      self.finalRefusal
      ?? RefusedBeforeStart(
        reason: RPCError(code: .unavailable, message: "the server refused the call: \(error)"),
        backOff: error.code == .overloaded)
    for (streamID, responses) in self.streams where streamID > lastStreamID {
      _ = self.forget(streamID)
      responses.finish(throwing: refusal)
    }
    self.failQueuedCalls(refusal)
  }

  /// Ends every call still waiting for a stream with `error`: none of them was sent.
  private func failQueuedCalls(_ error: any Error) {
    let queued = self.queuedCalls
    self.queuedCalls = []
    for call in queued {
      call.deadline?.cancel()
      call.responses.finish(throwing: error)
      call.releaseWriters()
    }
  }

  /// How a connection-level end looks to a caller.
  static func rpcError(for error: ConnectionError, endpoint: String) -> RPCError {
    switch error.code {
    case .unauthenticated:
      RPCError(code: .unauthenticated, message: error.message)
    default:
      RPCError(code: .unavailable, message: "the connection to \(endpoint) ended: \(error)", cause: error)
    }
  }

  private func fail(_ error: ConnectionError) {
    guard let context = self.context else { return }
    self.bytesRefused = true
    // No call starts on a connection that is failing: it waits for a new one instead.
    self.status.markUnusable()
    var buffer = context.channel.allocator.buffer(capacity: 64)
    buffer.writeFrame(.goAway, payload: (try? error.goAwayMessage(lastStreamID: 0).encodedBytes()) ?? [])
    self.closeReason = Self.rpcError(for: error, endpoint: self.endpoint)
    self.goAwayCloseTimer = context.close(after: context.writeAndFlush(self.wrapOutboundOut(buffer)))
  }

  func errorCaught(context: ChannelHandlerContext, error: any Error) {
    if let error = error as? ConnectionError {
      self.bytesRefused = true
      self.fail(error)
    } else {
      // The hint is for a connection closed under it, not for a TLS handshake that failed.
      let closedUnderIt = ConnectionFailure.closedByThePeer(error)
      self.closeReason = RPCError(
        code: .unavailable,
        message:
          "the connection to \(self.endpoint) failed: \(ConnectionFailure.describe(error, endpoint: self.endpoint))"
          + (closedUnderIt ? self.endedBeforeWelcomeHint : ""),
        cause: error
      )
      context.close(promise: nil)
    }
  }

  /// tallyd closes a new connection before TLS, without GOAWAY, while its address has
  /// `max_handshakes_per_address` connections in their handshake; the client then sees an end of
  /// file or a reset, which alone would not tell why.
  private var endedBeforeWelcomeHint: String {
    guard !self.welcomed else { return "" }
    return """
      ; it ended before WELCOME: if the server closed it, this address may have too many \
      connections still in their handshake there (max_handshakes_per_address), so retry shortly
      """
  }

  /// A channel that never became active (a Happy Eyeballs attempt that lost, a refused connect)
  /// closes without `channelInactive`: its WELCOME is failed here, so that no promise is left
  /// unfulfilled (and nothing waits on it).
  func handlerRemoved(context: ChannelHandlerContext) {
    self.handshakeTimer?.cancel()
    self.welcome.fail(
      self.closeReason ?? RPCError(code: .unavailable, message: "the connection to \(self.endpoint) closed"))
  }

  func channelWritabilityChanged(context: ChannelHandlerContext) {
    self.writabilityWaiters.writabilityChanged(context.channel)
    context.fireChannelWritabilityChanged()
  }

  func channelInactive(context: ChannelHandlerContext) {
    self.handshakeTimer?.cancel()
    self.goAwayCloseTimer?.cancel()
    self.status.markUnusable()
    let lost = "the connection to \(self.endpoint) was lost" + self.endedBeforeWelcomeHint
    let reason = self.closeReason ?? RPCError(code: .unavailable, message: lost)
    self.welcome.fail(reason)
    let streams = self.streams
    self.streams = [:]
    self.fullResponseBuffers = []
    for timer in self.deadlineTimers.values { timer.cancel() }
    self.deadlineTimers = [:]
    // Calls sent before WELCOME never ran (the server holds them until it accepts the key): unless
    // the key was refused, they may be sent again, as the calls queued behind them are. Not when
    // this side gave up first: the WELCOME may be on its way, and the call running.
    let sentReason: any Error =
      if self.welcomed || self.finalRefusal != nil {
        reason
      } else if self.gaveUpOnWelcome {
        RPCError(
          code: reason.code,
          message: "\(reason.message); the call was sent, so it may have run, and is not sent again")
      } else {
        RefusedBeforeStart(reason: reason, backOff: true)
      }
    for responses in streams.values { responses.finish(throwing: sentReason) }
    self.failQueuedCalls(self.finalRefusal ?? RefusedBeforeStart(reason: reason, backOff: true))
    self.writabilityWaiters.failAll(reason)
    context.fireChannelInactive()
  }

  // MARK: Called by calls, on the event loop

  /// A call waiting for a free stream.
  struct QueuedCall {
    var header: Tally_V1_CallHeader
    var messages: [[UInt8]]
    var endStream: Bool
    var handle: StreamHandle
    var timeout: Duration?
    var responses: ResponseRoute
    /// Ends the call when `timeout` has passed since it was started, queued or open.
    var deadline: Scheduled<Void>? = nil
    /// Writers waiting for the call to leave the queue before they send more: a queued client
    /// stream otherwise took every message its caller produced into memory.
    var leftQueue: [EventLoopPromise<Void>] = []

    /// The call is out of the queue (opened, cancelled or failed): its writers go on, and find out.
    func releaseWriters() { for promise in self.leftQueue { promise.succeed() } }
  }

  /// Opens a stream (CALL plus the first request messages, in one write), or queues the call
  /// while the server's max_concurrent_streams are in use.
  func startCall(_ call: QueuedCall) {
    guard let context = self.context, self.status.isUsable, self.nextStreamID < UInt32.max else {
      self.status.markUnusable()
      if let finalRefusal = self.finalRefusal { return call.responses.finish(throwing: finalRefusal) }
      // A connection that failed (its TLS handshake, say) before this call came says why.
      let reason = self.closeReason ?? self.unusable
      return call.responses.finish(throwing: RefusedBeforeStart(reason: reason))
    }
    var call = call
    call.deadline = call.timeout.map { self.scheduleDeadline(call.handle, in: $0, context: context) }
    if self.streams.count + self.endingStreams.count >= self.maxConcurrentStreams || !self.queuedCalls.isEmpty {
      self.queuedCalls.append(call)
      call.handle.queued = true
      return
    }
    self.open(call)
  }

  /// Why a usable-looking connection takes no more calls: it is closing, or its ids ran out.
  private var unusable: RPCError {
    let why = self.nextStreamID == UInt32.max ? "has used every stream id" : "is closing"
    return RPCError(code: .unavailable, message: "the connection to \(self.endpoint) \(why)")
  }

  private func startQueuedCalls() {
    while self.streams.count + self.endingStreams.count < self.maxConcurrentStreams,
      let call = self.queuedCalls.popFirst()
    {
      call.handle.queued = false
      if call.handle.cancelled {
        call.deadline?.cancel()
      } else {
        self.open(call)
      }
      call.releaseWriters()
    }
  }

  /// Ends the call with DEADLINE_EXCEEDED once `timeout` has passed: a call's time waiting for a
  /// free stream counts, or a call queued behind busy streams could wait for ever.
  private func scheduleDeadline(
    _ handle: StreamHandle, in timeout: Duration, context: ChannelHandlerContext
  ) -> Scheduled<Void> {
    // A longer timeout is none on the server; the cap keeps TimeAmount's nanoseconds in range.
    let clamped = min(timeout, CallOptions.maxTimeout)
    return context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(clamped)) {
      let message =
        handle.queued
        ? "the call's deadline passed while it waited for one of the server's \(self.maxConcurrentStreams) streams"
        : "the call's deadline passed"
      self.endCall(handle, RPCError(code: .deadlineExceeded, message: message))
    }
  }

  private func open(_ call: QueuedCall) {
    guard let context = self.context else { return }
    // Calls queued before the ids ran out passed `startCall`'s check: refused, never sent (the
    // increment below would trap past UInt32.max).
    guard self.nextStreamID < UInt32.max else {
      self.status.markUnusable()
      call.deadline?.cancel()
      return call.responses.finish(throwing: RefusedBeforeStart(reason: self.unusable))
    }
    let (header, messages, endStream, handle, responses) = (
      call.header, call.messages, call.endStream, call.handle, call.responses
    )
    let streamID = self.nextStreamID
    self.nextStreamID += 1
    handle.streamID = streamID
    self.streams[streamID] = responses
    let headerBytes: [UInt8] = (try? header.serializedBytes()) ?? []
    var buffer = context.channel.allocator.buffer(
      capacity: Frame.headerLength * (messages.count + 1) + headerBytes.count + messages.reduce(0) { $0 + $1.count }
    )
    buffer.writeFrame(.call, streamID: streamID, payload: headerBytes)
    for (index, message) in messages.enumerated() {
      let last = endStream && index == messages.count - 1
      buffer.writeFrame(.message, flags: last ? .endStream : [], streamID: streamID, payload: message)
    }
    context.write(self.wrapOutboundOut(buffer), promise: nil)
    self.flushes.flushSoon(context.channel)
    if let deadline = call.deadline { self.deadlineTimers[streamID] = deadline }
  }

  /// Sends one more request message on an open stream.
  func sendMessage(_ bytes: [UInt8], endStream: Bool, handle: StreamHandle) {
    // Sent, it would be a FRAME_TOO_LARGE that ends the connection and every call on it.
    if bytes.count > self.maxFramePayload {
      return self.endCall(
        handle,
        RPCError(
          code: .resourceExhausted,
          message:
            "a request message of \(bytes.count) bytes is above the server's max_frame_payload (\(self.maxFramePayload))"
        ))
    }
    if handle.queued, let index = self.queuedCalls.firstIndex(where: { $0.handle === handle }) {
      self.queuedCalls[index].messages.append(bytes)
      self.queuedCalls[index].endStream = endStream
      return
    }
    guard let context = self.context, let streamID = handle.streamID, self.streams[streamID] != nil else { return }
    var buffer = context.channel.allocator.buffer(capacity: Frame.headerLength + bytes.count)
    buffer.writeFrame(.message, flags: endStream ? .endStream : [], streamID: streamID, payload: bytes)
    context.writeAndFlush(self.wrapOutboundOut(buffer), promise: nil)
  }

  /// The caller gave up on the call, or left it before its STATUS: CANCEL tells the server to stop
  /// its work. A call that has ended already is left as it is.
  func cancel(_ handle: StreamHandle) {
    self.endCall(handle, RPCError(code: .cancelled, message: "the call was cancelled"))
  }

  /// Ends the call with `error` on this side; a started one is cancelled on the server.
  private func endCall(_ handle: StreamHandle, _ error: RPCError) {
    if handle.queued {
      handle.cancelled = true
      if let index = self.queuedCalls.firstIndex(where: { $0.handle === handle }) {
        let call = self.queuedCalls.remove(at: index)
        call.deadline?.cancel()
        call.responses.finish(throwing: error)
        call.releaseWriters()
      }
      return
    }
    guard let streamID = handle.streamID else { return }
    self.endLocally(streamID, error)
  }

  private func endLocally(_ streamID: UInt32, _ error: RPCError) {
    guard let context = self.context, let responses = self.forget(streamID) else { return }
    self.endingStreams.insert(streamID)
    var buffer = context.channel.allocator.buffer(capacity: Frame.headerLength)
    buffer.writeFrame(.cancel, streamID: streamID, payload: EmptyCollection())
    context.writeAndFlush(self.wrapOutboundOut(buffer), promise: nil)
    responses.finish(throwing: error)
  }

  /// A stream's caller read its responses down to `ResponseBuffer.lowWatermark`, or stopped
  /// reading them: that stream no longer holds the connection's reads back.
  func callerReadResponses(_ handle: StreamHandle) {
    guard let streamID = handle.streamID, self.fullResponseBuffers.remove(streamID) != nil else { return }
    self.resumeReading()
  }

  /// Forgets a stream that ended: its responses' route, its deadline, and any hold on reading.
  private func forget(_ streamID: UInt32) -> ResponseRoute? {
    self.deadlineTimers.removeValue(forKey: streamID)?.cancel()
    if self.fullResponseBuffers.remove(streamID) != nil { self.resumeReading() }
    return self.streams.removeValue(forKey: streamID)
  }

  func read(context: ChannelHandlerContext) {
    if self.fullResponseBuffers.isEmpty {
      context.read()
    } else {
      self.readPending = true
    }
  }

  private func resumeReading() {
    guard self.readPending, self.fullResponseBuffers.isEmpty, let context = self.context else { return }
    self.readPending = false
    context.read()
  }

  /// Succeeds once `handle`'s call is out of the queue of calls waiting for a stream (at once if
  /// it is not in it): a client stream's writer waits for it after each message it queued.
  func whenOutOfQueue(_ handle: StreamHandle, on eventLoop: any EventLoop) -> EventLoopFuture<Void> {
    guard handle.queued, let index = self.queuedCalls.firstIndex(where: { $0.handle === handle }) else {
      return eventLoop.makeSucceededVoidFuture()
    }
    let promise = eventLoop.makePromise(of: Void.self)
    self.queuedCalls[index].leftQueue.append(promise)
    return promise.futureResult
  }

  func whenWritable(on eventLoop: any EventLoop) -> EventLoopFuture<Void> {
    guard let context = self.context else { return eventLoop.makeFailedFuture(ChannelError.ioOnClosedChannel) }
    return self.writabilityWaiters.whenWritable(context.channel)
  }

  /// Says goodbye: GOAWAY NO_ERROR, then close once the open calls are done is left to the caller.
  func goAway() {
    guard let context = self.context else { return }
    self.status.markUnusable()
    var buffer = context.channel.allocator.buffer(capacity: 32)
    let goAway = ConnectionError(.noError, "the client is closing").goAwayMessage(lastStreamID: 0)
    buffer.writeFrame(.goAway, payload: (try? goAway.encodedBytes()) ?? [])
    context.writeAndFlush(self.wrapOutboundOut(buffer), promise: nil)
    // The server refuses a CALL after this GOAWAY: the calls not yet sent end here, a call that
    // took this connection just before ends the same way (not sent again on a new one), and so do
    // the calls still running when `close` stops waiting for them (not "the connection was lost").
    let closed = RPCError(code: .unavailable, message: "the client closed its connection to \(self.endpoint)")
    self.closeReason = self.closeReason ?? closed
    self.finalRefusal = self.finalRefusal ?? closed
    self.failQueuedCalls(closed)
  }
}
