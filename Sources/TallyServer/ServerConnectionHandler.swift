import Logging
import NIOCore
import NIOTLS
import Prometheus
import SwiftProtobuf
import TallyCore
import TallyProto
import TallyWire

/// Asks a connection to finish its calls and close (graceful shutdown).
struct ServerShutdownEvent: Sendable {}

/// Runs one connection: decodes its bytes into frames, feeds them to
/// `ServerConnectionStateMachine`, does what it answers, and runs each call's handler as a task
/// whose results come back to the event loop.
final class ServerConnectionHandler: ChannelDuplexHandler {
  typealias InboundIn = ByteBuffer
  typealias OutboundIn = ByteBuffer
  typealias OutboundOut = ByteBuffer

  struct Dependencies: Sendable {
    /// The router's methods by full name, each with its series: one look-up per CALL.
    var methods: [String: ServedMethod]
    var authenticator: any Authenticator
    var limits: ServerLimits
    /// Shared by every connection of the server.
    var callRates: TenantCallRates
    var keyConnections: ConnectionCounts<String>?
    var tenantConnections: ConnectionCounts<String>?
    var handshakes: ConnectionCounts<ConnectionSource>?
    var serverHeldBytes: ServerHeldRequestBytes
    var tenantHeldBytes: TenantHeldRequestBytes
    var metrics: ServerMetrics
    var logger: Logger

    /// Made once per server: the rate and connection counts are shared by its connections.
    init(
      router: Router, authenticator: any Authenticator, limits: ServerLimits, metrics: ServerMetrics, logger: Logger
    ) {
      self.methods = Dictionary(
        uniqueKeysWithValues: router.methodNames.compactMap { name in
          router.method(named: name).map { (name, ServedMethod(routed: $0, metrics: metrics.method(named: name))) }
        })
      self.authenticator = authenticator
      self.limits = limits
      self.callRates = TenantCallRates(callsPerSecond: limits.tenantCallsPerSecond, burst: limits.tenantCallBurst)
      self.keyConnections = ConnectionCounts(limit: limits.maxConnectionsPerKey)
      self.tenantConnections = ConnectionCounts(limit: limits.maxConnectionsPerTenant)
      self.handshakes = ConnectionCounts(limit: limits.maxHandshakesPerAddress)
      self.serverHeldBytes = ServerHeldRequestBytes(limit: limits.maxServerHeldRequestBytes)
      self.tenantHeldBytes = TenantHeldRequestBytes(serverLimit: limits.maxServerHeldRequestBytes)
      self.metrics = metrics
      self.logger = logger
    }
  }

  private let dependencies: Dependencies
  private var machine: ServerConnectionStateMachine
  /// The frame decoder, run here rather than in a `ByteToMessageHandler` of its own: that
  /// handler's generic code and each frame's trip through `NIOAny` cost 5 % of a ping's CPU.
  private var decoder: NIOSingleStepByteToMessageProcessor<FrameDecoder>
  /// The decoder refused the bytes: the connection is going away and reads no more.
  private var bytesRefused = false
  private var logger: Logger
  private var context: ChannelHandlerContext?
  private var principal: Principal?
  /// The key this connection counts against `maxConnectionsPerKey`, until it closes.
  private var countedKeyID: String?
  /// The tenant this connection counts against `maxConnectionsPerTenant`, until it closes.
  private var countedTenantID: String?
  /// The source this connection counts against `maxHandshakesPerAddress`, until HELLO is accepted.
  private var handshakeSource: ConnectionSource?
  private var lastTenantBucket: TenantCallRates.Remembered?
  /// PINGs and refused calls of the read now running, charged to the tenant's rate as it ends.
  private var framesToCharge = 0
  /// Reads wait out the tokens the tenant lacked for such frames (`TenantCallRates.charge`).
  private var rateWait: Scheduled<Void>?
  private var calls: [UInt32: ServerCall] = [:]
  /// Frames that arrived while HELLO was being checked.
  private var heldFrames: [Frame] = []
  private var authenticating = false
  /// HELLO's key check, cancelled if the connection closes first: a flood of HELLOs that hang up
  /// leaves no look-ups waiting for the database.
  private var authentication: Task<Void, Never>?
  /// Client-streaming calls whose handlers are behind; reads wait for them.
  private var pausedStreams: Set<UInt32> = []
  /// Bytes of request messages the calls hold: reads wait while they reach `maxHeldRequestBytes`,
  /// or while all connections' together reach `maxServerHeldRequestBytes`.
  private var heldRequestBytes = 0
  /// The budget whose calls must give bytes back before reads go on: the tenant's or the server's.
  private var waitingForRoomIn: ServerHeldRequestBytes?
  private var waitingForRoom: Bool { self.waitingForRoomIn != nil }
  /// The key's tenant's part of the server's budget (`TenantHeldRequestBytes`); nil for operators.
  private var tenantHeldBytes: ServerHeldRequestBytes?
  private var readPending = false
  /// The channel's writability, as last reported.
  private var outboundWritable = true
  /// When the key was last re-checked for this connection (WELCOME's check, a call's start, a
  /// stream's message, its own re-check), and whether its own runs.
  private var keyCheckedAt = NIODeadline.now()
  private var keyRecheckRunning = false
  /// Any frame written (WELCOME first): a close then waits for the writes to go out.
  private var wroteFrames = false
  /// Closes the connection if a GOAWAY's write does not finish: a peer that reads nothing keeps it queued.
  private var goAwayCloseTimer: Scheduled<Void>?
  private var writeStallTimer: Scheduled<Void>?
  /// Since when the frame the decoder holds part of has been arriving (`ServerLimits.frameTimeout`).
  private var partialFrameSince: NIODeadline?
  private var frameTimer: Scheduled<Void>?
  /// The channel went inactive (perhaps inside the read now running): no timer starts again.
  private var closed = false
  /// TLS finished its handshake, or bytes arrived: a GOAWAY can reach the peer. Before that, TLS
  /// holds the GOAWAY back and the close would wait for `goAwayWriteTimeout` too.
  private var peerCanRead = false
  private var lastActivity = NIODeadline.now()
  private var idleTimer: Scheduled<Void>?
  /// How many times the idle timer has fired: a test's measure that it does not spin.
  private(set) var idleChecks = 0
  private var writabilityWaiters = WritabilityWaiters()
  /// Where the calls' handlers run; set when the handler joins its channel.
  private var executor: EventLoopTaskExecutor?
  private let flushes = FlushCoalescer()
  /// Names this connection in the request ids it makes up: one random draw per connection, not
  /// per call (each draw is a `getrandom` system call).
  private let connectionTag = String(UInt64.random(in: .min ... .max), radix: 16)

  /// `handshakeSource`: already counted in `dependencies.handshakes`; released here.
  init(dependencies: Dependencies, handshakeSource: ConnectionSource? = nil) {
    self.dependencies = dependencies
    self.handshakeSource = handshakeSource
    self.machine = ServerConnectionStateMachine(maxConcurrentStreams: dependencies.limits.maxConcurrentStreams)
    self.decoder = NIOSingleStepByteToMessageProcessor(
      FrameDecoder(
        maxPayload: dependencies.limits.maxFramePayload, maxFirstPayload: Frame.maxHelloPayload, expectsMagic: true))
    self.logger = dependencies.logger
  }

  /// Reads wait while HELLO is checked, while a client-streaming handler is behind, while the
  /// calls hold as many request bytes as they may, and while the peer does not read what is
  /// written: a client that sends PINGs or calls and never reads their answers would otherwise
  /// grow the server's outbound buffer without bound.
  private var connectionReadsPaused: Bool {
    self.authenticating || !self.pausedStreams.isEmpty || !self.outboundWritable || self.rateWait != nil
      || self.heldRequestBytes >= self.dependencies.limits.maxHeldRequestBytes
  }

  /// The connection's own reasons to wait, or its wait for its tenant's or the server's calls to give bytes back.
  private var readsPaused: Bool { self.connectionReadsPaused || self.waitingForRoom }

  /// Whether the connection may read now; when only its tenant's or the server's byte budget
  /// stops it, it waits to be woken once calls give bytes back. A connection before HELLO is not
  /// held up: its handshake is bounded (`Frame.maxHelloPayload`), and would otherwise time out.
  private func mayRead() -> Bool {
    guard !self.closed, !self.connectionReadsPaused, !self.waitingForRoom else { return false }
    guard self.principal != nil, let context = self.context else { return true }
    let budget: ServerHeldRequestBytes
    if let tenant = self.tenantHeldBytes, tenant.isFull {
      budget = tenant
    } else if self.dependencies.serverHeldBytes.isFull {
      budget = self.dependencies.serverHeldBytes
    } else {
      return true
    }
    let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
    let wake: @Sendable () -> Void = { handler.eventLoop.execute { handler.value.roomFreed() } }
    self.waitingForRoomIn = budget.waitForRoom(ObjectIdentifier(self), wake: wake) ? budget : nil
    return !self.waitingForRoom
  }

  private func roomFreed() {
    guard self.waitingForRoom else { return }
    self.waitingForRoomIn = nil
    self.lastActivity = .now()  // the peer's bytes waited on the server, not the peer on nothing
    self.resumeReadsIfPossible()
  }

  /// Counts a request message's bytes as held by the connection's calls and the server's.
  private func holdRequestBytes(_ bytes: Int) {
    self.heldRequestBytes += bytes
    self.dependencies.serverHeldBytes.hold(bytes)
    self.tenantHeldBytes?.hold(bytes)
  }

  private func releaseRequestBytes(_ bytes: Int) {
    self.heldRequestBytes -= bytes
    self.dependencies.serverHeldBytes.release(bytes)
    self.tenantHeldBytes?.release(bytes)
  }

  // MARK: Channel events

  func handlerAdded(context: ChannelHandlerContext) {
    self.context = context
    self.executor = EventLoopTaskExecutor(eventLoop: context.eventLoop)
    if let remote = context.channel.remoteAddress { self.logger[metadataKey: "peer"] = "\(remote)" }
    self.scheduleIdleCheck(in: self.dependencies.limits.handshakeTimeout)
  }

  func handlerRemoved(context: ChannelHandlerContext) {
    self.handshakeFinished()  // a connection closed before it was active got no channelInactive
    self.context = nil
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    guard !self.bytesRefused else { return }
    self.lastActivity = .now()
    self.peerCanRead = true
    var completedAFrame = false
    do {
      try self.decoder.process(buffer: self.unwrapInboundIn(data)) { frame in
        completedAFrame = true
        self.act(self.machine.receivedFrame(frame))
      }
    } catch {
      self.chargeFrames(context: context)  // the frames before the bad one were answered
      return self.errorCaught(context: context, error: error)
    }
    self.watchPartialFrame(completedAFrame: completedAFrame, context: context)
    self.chargeFrames(context: context)
    if completedAFrame { self.recheckKeyIfDue(context: context) }
  }

  /// Every frame a connection reads (a CALL that never gets its message, a CANCEL, a PING) has its
  /// key re-checked at most `keyRecheckInterval` apart, counting the calls' own re-checks as they
  /// start (a busy connection adds no look-up of its own): a revoked key's connection that only
  /// opened and cancelled calls kept its slot and spent its tenant's call rate for as long as it
  /// liked. A refusal ends the connection's calls (GOAWAY).
  private func recheckKeyIfDue(context: ChannelHandlerContext) {
    guard let principal = self.principal, !self.keyRecheckRunning, !self.closed,
      self.lastActivity - self.keyCheckedAt >= TimeAmount(Self.keyRecheckInterval)
    else { return }
    (self.keyRecheckRunning, self.keyCheckedAt) = (true, self.lastActivity)
    let (revalidate, eventLoop) = (self.revalidation(of: principal), context.eventLoop)
    let connection = NIOLoopBound(self, eventLoop: eventLoop)
    Task {
      var refused = false
      do {
        try await revalidate()
      } catch is KeyRefusedError {
        refused = true
      } catch {}  // the database unavailable, say: the calls' own re-checks will say so
      eventLoop.execute { [refused] in
        connection.value.keyRecheckRunning = false
        if refused { connection.value.refuseFurtherCalls() }
      }
    }
  }

  /// The key was revoked or its tenant suspended: GOAWAY, and the open calls finish.
  private func refuseFurtherCalls() {
    self.act(
      self.machine.keyRefused("the API key was revoked or its tenant suspended: this connection takes no more calls"))
  }

  /// As a call's key is re-checked at the most (`DatabaseAuthenticator.recheckInterval`).
  static let keyRecheckInterval = Duration.seconds(2)

  /// Times the frame the decoder holds part of, from the read that brought its first bytes.
  private func watchPartialFrame(completedAFrame: Bool, context: ChannelHandlerContext) {
    guard self.decoder.unprocessedBytes > 0, !self.closed else {
      self.partialFrameSince = nil
      return
    }
    if completedAFrame || self.partialFrameSince == nil { self.partialFrameSince = context.eventLoop.now }
    if self.frameTimer == nil { self.scheduleFrameCheck(in: self.dependencies.limits.frameTimeout, context: context) }
  }

  private func scheduleFrameCheck(in delay: Duration, context: ChannelHandlerContext) {
    self.frameTimer = context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(delay)) {
      self.frameCheck(context: context)
    }
  }

  /// A frame still partial a whole `frameTimeout` after it began ends the connection; time the
  /// server spent not reading (reads paused) is not the peer's: the count starts again after it.
  private func frameCheck(context: ChannelHandlerContext) {
    self.frameTimer = nil
    guard var since = self.partialFrameSince, !self.bytesRefused, !self.closed else { return }
    let now = context.eventLoop.now
    if self.readsPaused {
      (self.partialFrameSince, since) = (now, now)
    }
    let timeout = self.dependencies.limits.frameTimeout
    let waited = Duration.nanoseconds((now - since).nanoseconds)
    guard waited >= timeout else { return self.scheduleFrameCheck(in: timeout - waited, context: context) }
    self.bytesRefused = true
    let received = self.decoder.unprocessedBytes
    self.act(
      self.machine.decodingFailed(
        ConnectionError(.idleTimeout, "a frame did not arrive whole within \(timeout) (\(received) bytes of it came)")))
  }

  func read(context: ChannelHandlerContext) {
    if !self.mayRead() {
      self.readPending = true
    } else {
      context.read()
    }
  }

  func channelWritabilityChanged(context: ChannelHandlerContext) {
    self.outboundWritable = context.channel.isWritable
    self.writabilityWaiters.writabilityChanged(context.channel)
    self.resumeReadsIfPossible()
    self.watchWriteStall(context: context)
    context.fireChannelWritabilityChanged()
  }

  /// Closes a connection that stays unwritable for `writeStallTimeout`: its peer reads nothing,
  /// so no GOAWAY would get through either; its calls are cancelled as it closes.
  private func watchWriteStall(context: ChannelHandlerContext) {
    if self.outboundWritable {
      self.writeStallTimer?.cancel()
      self.writeStallTimer = nil
    } else if self.writeStallTimer == nil {
      let timeout = self.dependencies.limits.writeStallTimeout
      self.writeStallTimer = context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(timeout)) {
        self.logger.info("closing a connection whose peer read nothing", metadata: ["for": "\(timeout)"])
        context.close(promise: nil)
      }
    }
  }

  func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
    if event is ServerShutdownEvent {
      // A peer still in its TLS handshake could read no GOAWAY: closed now, not a write timeout later.
      self.act(self.peerCanRead ? self.machine.shutdown() : .close)
    } else {
      if case TLSUserEvent.handshakeCompleted = event { self.peerCanRead = true }
      context.fireUserInboundEventTriggered(event)
    }
  }

  func errorCaught(context: ChannelHandlerContext, error: any Error) {
    if let error = error as? ConnectionError {
      self.bytesRefused = true
      self.logger.debug("connection error", metadata: ["error": "\(error)"])
      self.act(self.machine.decodingFailed(error))
    } else {
      self.logger.debug("connection failed", metadata: ["error": "\(String(reflecting: error))"])
      context.close(promise: nil)
    }
  }

  func channelInactive(context: ChannelHandlerContext) {
    self.handshakeFinished()
    if let tenantID = self.countedTenantID {
      self.dependencies.tenantConnections?.close(tenantID)
      self.countedTenantID = nil
    }
    if let keyID = self.countedKeyID {
      self.dependencies.keyConnections?.close(keyID)
      self.countedKeyID = nil
    }
    self.idleTimer?.cancel()
    self.goAwayCloseTimer?.cancel()
    self.writeStallTimer?.cancel()
    self.frameTimer?.cancel()
    (self.frameTimer, self.partialFrameSince, self.closed) = (nil, nil, true)
    self.rateWait?.cancel()
    self.authentication?.cancel()
    for call in self.calls.values {
      call.stop(RPCError(code: .cancelled, message: "the connection closed"))
      self.count(.cancelled, of: call.metrics, openedAt: call.openedAt)
    }
    self.calls.removeAll()
    self.waitingForRoomIn?.stopWaiting(ObjectIdentifier(self))
    self.waitingForRoomIn = nil
    self.releaseRequestBytes(self.heldRequestBytes)
    self.writabilityWaiters.failAll(ChannelError.ioOnClosedChannel)
    context.fireChannelInactive()
  }

  // MARK: Actions

  private func act(_ action: ServerConnectionStateMachine.Action) {
    // A flush whose write fails closes the channel inside the read now running: the rest of its
    // frames would open calls that nothing stops, holding their bytes in the server's budget.
    guard let context = self.context, !self.closed else { return }
    switch action {
    case .none:
      break
    case .authenticate(let hello):
      self.authenticate(hello, context: context)
    case .bufferUntilAuthenticated(let frame):
      self.heldFrames.append(frame)
    case .sendWelcome:
      self.sendWelcome(context: context)
    case .openStream(let streamID, let header):
      self.openCall(streamID, header: header, context: context)
    case .rejectStream(let streamID, let method, let code, let message):
      self.framesToCharge += 1
      self.count(code, of: self.dependencies.metrics.method(named: method))
      self.writeStatus(RPCError(code: code, message: message), streamID: streamID, context: context)
      self.flushes.flushSoon(context.channel)
    case .deliverMessage(let streamID, let payload, let endStream):
      self.deliver(payload, endStream: endStream, streamID: streamID, context: context)
    case .cancelStream(let streamID):
      self.finishCall(streamID, RPCError(code: .cancelled, message: "the client cancelled the call"))
    case .sendPingAck(let payload):
      self.framesToCharge += 1
      var buffer = context.channel.allocator.buffer(capacity: Frame.headerLength + 8)
      buffer.writeFrame(.ping, flags: .ack, payload: payload)
      // Flushed with the tick's other answers: a read full of PINGs costs one write per 16.
      context.write(self.wrapOutboundOut(buffer), promise: nil)
      self.flushes.flushSoon(context.channel)
    case .sendGoAway(let error, let lastStreamID, let close):
      self.logger.debug("sending GOAWAY", metadata: ["error": "\(error)", "last_stream_id": "\(lastStreamID)"])
      let write = self.writeMessageFrame(.goAway, error.goAwayMessage(lastStreamID: lastStreamID), context: context)
      context.flush()
      if close { self.goAwayCloseTimer = context.close(after: write) }
    case .close:
      // The last answers (a drain's final STATUS, a call answered in the read that brought the
      // client's GOAWAY) go out before the close: a close at once drops the writes the socket or
      // TLS has not yet taken. An empty write completes after them (NIO and NIOSSL keep the order).
      // A peer sent nothing yet (still in TLS) could not read it: closed at once.
      guard self.wroteFrames else { return context.close(promise: nil) }
      let lastWrite = context.write(self.wrapOutboundOut(context.channel.allocator.buffer(capacity: 0)))
      context.flush()
      self.goAwayCloseTimer = context.close(after: lastWrite)
    }
  }

  // MARK: HELLO and WELCOME

  private func authenticate(_ hello: Tally_V1_Hello, context: ChannelHandlerContext) {
    self.authenticating = true
    // On every log line of the connection: a client's name of any length is cut.
    self.logger[metadataKey: "client"] = "\(LogText.printable(hello.clientName))"
    let authenticator = self.dependencies.authenticator
    let apiKey = hello.apiKey
    let eventLoop = context.eventLoop
    let connection = NIOLoopBound(self, eventLoop: eventLoop)
    // Started here like a call; the result always comes back through the loop's queue, after this read.
    self.authentication = Task.immediate(executorPreference: self.executor) {
      let result: Result<Principal, any Error>
      do {
        result = .success(try await authenticator.authenticate(apiKey: apiKey))
      } catch {
        result = .failure(error)
      }
      eventLoop.execute { connection.value.authenticationFinished(result) }
    }
  }

  private func authenticationFinished(_ result: Result<Principal, any Error>) {
    (self.authenticating, self.authentication) = (false, nil)
    guard !self.closed else { return }  // nobody to answer; a key check cancelled by the close
    switch result {
    case .success(let principal):
      self.logger[metadataKey: "key_id"] = "\(principal.keyID)"
      // Counted only while the connection is open: it may have closed during the check.
      if let keyConnections = self.dependencies.keyConnections, self.context?.channel.isActive == true {
        guard keyConnections.open(principal.keyID) else {
          self.heldFrames = []
          let message =
            "this API key already holds \(keyConnections.limit) connections to this server, the most one key may; "
            + "reuse one, or close one and retry"
          return self.act(self.machine.authenticationFailed(message, code: .overloaded))
        }
        self.countedKeyID = principal.keyID
      }
      if let tenantConnections = self.dependencies.tenantConnections, let tenantID = principal.tenantID,
        self.context?.channel.isActive == true
      {
        guard tenantConnections.open(tenantID) else {
          self.heldFrames = []
          let message =
            "this tenant's keys already hold \(tenantConnections.limit) connections to this server, the most one "
            + "tenant may; reuse one, or close one and retry"
          return self.act(self.machine.authenticationFailed(message, code: .overloaded))
        }
        self.countedTenantID = tenantID
      }
      self.principal = principal
      self.keyCheckedAt = .now()
      self.tenantHeldBytes = principal.tenantID.map { self.dependencies.tenantHeldBytes.budget(of: $0) }
      self.handshakeFinished()
      self.act(self.machine.authenticationSucceeded())
    case .failure(let error):
      self.heldFrames = []
      // A refused key (or a suspended tenant's) is UNAUTHENTICATED, final; a check that could not
      // run (the database unavailable, or an unexpected error) is OVERLOADED, worth a retry.
      let refusal = error as? RPCError
      if refusal == nil { self.logger.error("authentication failed", metadata: ["error": "\(error)"]) }
      if let refusal, refusal.code == .unauthenticated || refusal.code == .permissionDenied {
        self.dependencies.metrics.hellosRefused.increment()
        self.act(self.machine.authenticationFailed(refusal.message))
      } else {
        let message = "the API key could not be checked now" + (refusal.map { ": \($0.message)" } ?? "")
        self.act(self.machine.authenticationFailed(message, code: .overloaded))
      }
    }
  }

  /// Frees this connection's place among its source's handshakes (once).
  private func handshakeFinished() {
    guard let source = self.handshakeSource else { return }
    self.handshakeSource = nil
    self.dependencies.handshakes?.close(source)
  }

  private func sendWelcome(context: ChannelHandlerContext) {
    guard let principal = self.principal else { return }
    let limits = self.dependencies.limits
    var welcome = Tally_V1_Welcome()
    welcome.serverVersion = tallyServerVersion
    welcome.protocolVersion = tallyProtocolVersion
    welcome.maxFramePayload = UInt32(clamping: limits.maxFramePayload)
    welcome.maxConcurrentStreams = UInt32(clamping: limits.maxConcurrentStreams)
    welcome.idleTimeoutMs = limits.idleTimeout.clampedMilliseconds
    welcome.principal.keyID = principal.keyID
    welcome.principal.tenantID = principal.tenantID ?? ""
    welcome.principal.operator = principal.isOperator
    welcome.principal.scopes = principal.scopes.map(\.rawValue).sorted()
    self.writeMessageFrame(.welcome, welcome, context: context)
    context.flush()

    self.idleTimer?.cancel()
    self.scheduleIdleCheck(in: limits.idleTimeout)
    let held = self.heldFrames
    self.heldFrames = []
    for frame in held where !self.machine.isClosed {
      self.act(self.machine.receivedFrame(frame))
    }
    self.chargeFrames(context: context)
    self.resumeReadsIfPossible()
  }

  // MARK: Calls

  private func openCall(_ streamID: UInt32, header: Tally_V1_CallHeader, context: ChannelHandlerContext) {
    guard let principal = self.principal else { return }
    guard let served = self.dependencies.methods[header.method] else {
      let error = RPCError(code: .unimplemented, message: "unknown method '\(header.method)'")
      return self.reject(streamID, error, self.dependencies.metrics.unknownMethod)
    }
    let (method, metrics) = (served.routed, served.metrics)
    let tenantID: String?
    do {
      tenantID = try principal.authorize(method.access, requestedTenant: header.tenantID)
    } catch {
      return self.reject(streamID, error as? RPCError ?? RPCError(code: .permissionDenied, message: "denied"), metrics)
    }
    // Refused before it takes a token of its tenant's rate, as an oversized CALL is.
    let metadataBytes = CallMetadata.heldBytes(of: header.metadata)
    if let refusal = CallMetadata.refusal(entries: header.metadata.count, heldBytes: metadataBytes) {
      return self.reject(streamID, refusal, metrics)
    }
    // Calls naming no tenant are the operator's own (tenants, Ping): no tenant's rate applies.
    // The loop's clock, which is the real one but for tests that drive time themselves.
    if let tenantID,
      let refusal = self.dependencies.callRates.admit(
        tenantID, remembering: &self.lastTenantBucket, now: context.eventLoop.now)
    {
      // A refused call takes no token, but a tenant key's connection reads nothing more until
      // one is back: a client over its rate would otherwise send CALLs as fast as the line
      // allows, each one decoded and answered. An operator key's connection, which serves every
      // tenant, is not held back for one of them (its PINGs and refusals are not charged either).
      if principal.tenantID != nil { self.pauseReads(for: refusal.retryAfter, context: context) }
      return self.reject(streamID, refusal.error, metrics, charged: false)
    }
    let requestID: RequestID =
      header.requestID.isEmpty
      ? .madeUp(connection: self.connectionTag, stream: streamID) : .given(LogText.printable(header.requestID))
    let timeout = Self.timeout(milliseconds: header.timeoutMs)
    let requestContext = RequestContext(
      principal: principal,
      tenantID: tenantID,
      method: header.method,
      requestID: requestID,
      idempotencyKey: header.idempotencyKey.isEmpty ? nil : header.idempotencyKey,
      metadata: header.metadata,
      deadline: timeout.map { ContinuousClock.now + $0 },
      connectionLogger: self.logger,
      allocator: context.channel.allocator,
      maxResponseBytes: self.dependencies.limits.maxFramePayload
    )
    // Opened when the read that carried its CALL began: one clock reading fewer per call.
    let call = ServerCall(
      streamID: streamID, method: method, context: requestContext, metrics: metrics, openedAt: self.lastActivity)
    self.calls[streamID] = call
    // Counted as held once the request is whole (`deliver`): before, only more reads let the call
    // go on, and a budget its CALLs filled would wait for ever (a tenant's other connections too).
    call.metadataBytes = metadataBytes
    if let timeout {
      call.deadlineTimer = context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(timeout)) {
        self.finishCall(streamID, RPCError(code: .deadlineExceeded, message: "the call's deadline passed"))
      }
    }
    if case .clientStreaming(let body) = method.body {
      self.startClientStreaming(call, body: body, context: context)
    }
  }

  private func reject(_ streamID: UInt32, _ error: RPCError, _ metrics: MethodMetrics, charged: Bool = true) {
    guard let context = self.context else { return }
    if charged { self.framesToCharge += 1 }
    self.count(error.code, of: metrics)
    self.writeStatus(error, streamID: streamID, context: context)
    self.flushes.flushSoon(context.channel)
    self.act(self.machine.streamClosed(streamID))
  }

  private func deliver(_ frame: ByteBuffer, endStream: Bool, streamID: UInt32, context: ChannelHandlerContext) {
    guard let call = self.calls[streamID] else { return }
    call.messagesReceived += 1
    guard call.messagesReceived <= self.dependencies.limits.maxMessagesPerStream else {
      return self.finishCall(
        streamID,
        RPCError(
          code: .resourceExhausted,
          message: "more than \(self.dependencies.limits.maxMessagesPerStream) messages on one stream"
        )
      )
    }
    // Held until the call returns (a client-streaming handler gives its messages back one by one).
    let payload = HeldRequestPayload.holdable(frame, allocator: context.channel.allocator)
    // The metadata too, from the request's last message: the call gives it all back without more reads.
    let held = payload.readableBytes + (endStream ? call.metadataBytes : 0)
    if endStream { call.metadataBytes = 0 }
    call.heldRequestBytes += held
    self.holdRequestBytes(held)
    switch call.method.body {
    case .unary(let body):
      guard endStream else { return self.finishCall(streamID, Self.singleRequestExpected(call)) }
      self.start(call, context: context) { requestContext in try await body(payload, requestContext) }
    case .serverStreaming(let body):
      guard endStream else { return self.finishCall(streamID, Self.singleRequestExpected(call)) }
      let sink = ServerStreamSink(
        streamID: streamID,
        channel: context.channel,
        connection: NIOLoopBound(self, eventLoop: context.eventLoop),
        maxFramePayload: self.dependencies.limits.maxFramePayload,
        revalidate: self.revalidation(of: call.context.principal)
      )
      self.start(call, context: context) { requestContext in
        try await body(payload, requestContext, sink)
        return nil
      }
    case .clientStreaming:
      guard let inbound = call.inbound else { return }
      // The stream re-checks the key as it takes this message: the connection's own re-check
      // would be a second look-up, and its GOAWAY could come before the stream's refusal.
      self.keyCheckedAt = self.lastActivity
      if case .stopProducing = inbound.yield(payload) { self.pausedStreams.insert(streamID) }
      if endStream {
        inbound.finish()
        call.inbound = nil
      }
    }
  }

  /// A CALL's `timeout_ms` as the call's timeout: none for 0, and none past 30 days either, a
  /// deadline no call lives to see (and one every clock type can hold without overflowing).
  static func timeout(milliseconds: UInt64) -> Duration? {
    guard milliseconds > 0, milliseconds <= 30 * 24 * 3600 * 1000 else { return nil }
    return .milliseconds(milliseconds)
  }

  private static func singleRequestExpected(_ call: ServerCall) -> RPCError {
    RPCError(
      code: .invalidArgument,
      message: "\(call.method.fullName) takes exactly one request MESSAGE, which must carry END_STREAM"
    )
  }

  private func startClientStreaming(
    _ call: ServerCall,
    body: @escaping @Sendable (RawRequestStream, RequestContext) async throws -> any Message,
    context: ChannelHandlerContext
  ) {
    let demand = InboundDemand(
      streamID: call.streamID,
      eventLoop: context.eventLoop,
      connection: NIOLoopBound(self, eventLoop: context.eventLoop)
    )
    let sequence = InboundPayloads.makeSequence(
      backPressureStrategy: .init(lowWatermark: 4, highWatermark: 16),
      finishOnDeinit: false,
      delegate: demand
    )
    call.inbound = sequence.source
    let payloads = sequence.sequence
    let revalidate = self.revalidation(of: call.context.principal)
    self.start(call, context: context) { requestContext in
      let requests = RawRequestStream {
        InboundPayloadIterator(base: payloads.makeAsyncIterator(), demand: demand, revalidate: revalidate)
      }
      return try await body(requests, requestContext)
    }
  }

  /// The re-check of a key, a refusal coming out as `KeyRefusedError`: every call runs it as it
  /// starts, a stream per message too (a stream may outlive its key's revocation or its tenant's
  /// suspension by hours), and a connection as it reads (`recheckKeyIfDue`).
  private func revalidation(of principal: Principal) -> @Sendable () async throws -> Void {
    let authenticator = self.dependencies.authenticator
    return {
      do {
        try await authenticator.revalidate(principal)
      } catch let error as RPCError where error.code == .unauthenticated || error.code == .permissionDenied {
        throw KeyRefusedError(error: error)
      }
    }
  }

  /// Runs the handler as a task; its outcome comes back to the event loop as one STATUS.
  ///
  /// The task starts at once on this event loop, inside the read that opened it, and resumes on
  /// the loop after it suspends: a handler that does not suspend (Ping) answers with no hop at all.
  private func start(
    _ call: ServerCall,
    context: ChannelHandlerContext,
    _ work: @escaping @Sendable (RequestContext) async throws -> (any Message)?
  ) {
    let eventLoop = context.eventLoop
    let connection = NIOLoopBound(self, eventLoop: eventLoop)
    let requestContext = call.context
    let streamID = call.streamID
    let revalidate = self.revalidation(of: call.context.principal)
    // The call re-checks the key itself: the connection's own re-check is not due for a while.
    self.keyCheckedAt = self.lastActivity
    call.task = Task.immediate(executorPreference: self.executor) {
      let outcome: Result<(any Message)?, any Error>
      var keyRefused = false
      do {
        try await revalidate()
        outcome = .success(try await work(requestContext))
      } catch let refused as KeyRefusedError {
        // At the start, or at a stream's message: either way the connection takes no more calls.
        keyRefused = true
        outcome = .failure(refused.error)
      } catch {
        outcome = .failure(error)
      }
      if eventLoop.inEventLoop {
        connection.value.callReturned(streamID, outcome, keyRefused: keyRefused)
      } else {
        eventLoop.execute { [keyRefused] in connection.value.callReturned(streamID, outcome, keyRefused: keyRefused) }
      }
    }
  }

  /// `keyRefused`: the call's re-check refused the key (revoked, or its tenant suspended), so the
  /// connection takes no more calls: each would take a token of the tenant's rate to be refused.
  private func callReturned(
    _ streamID: UInt32, _ outcome: Result<(any Message)?, any Error>, keyRefused: Bool = false
  ) {
    guard let call = self.removeCall(streamID) else { return }  // its bytes back, answered or not
    call.finished()
    guard let context = self.context else { return }
    switch outcome {
    case .success(let response):
      if let response {
        do {
          let bytes: [UInt8] = try response.serializedBytes()
          guard bytes.count <= self.dependencies.limits.maxFramePayload else {
            throw RPCError.responseTooLarge(bytes.count, limit: self.dependencies.limits.maxFramePayload)
          }
          var buffer = context.channel.allocator.buffer(capacity: 2 * Frame.headerLength + bytes.count)
          buffer.writeFrame(.message, streamID: streamID, payload: bytes)
          buffer.writeFrame(.status, streamID: streamID, payload: EmptyCollection())
          self.count(.ok, of: call.metrics, openedAt: call.openedAt)
          context.write(self.wrapOutboundOut(buffer), promise: nil)
        } catch {
          self.writeStatus(self.status(for: error, call: call), of: call, context: context)
        }
      } else {
        self.writeStatus(RPCError(code: .ok, message: ""), of: call, context: context)
      }
    case .failure(let error):
      self.writeStatus(self.status(for: error, call: call), of: call, context: context)
    }
    self.flushes.flushSoon(context.channel)
    self.callEnded(streamID)
    if keyRefused { self.refuseFurtherCalls() }
  }

  /// Answers a call that the connection ends itself (cancel, deadline, limits) and stops its work.
  private func finishCall(_ streamID: UInt32, _ error: RPCError) {
    guard let call = self.removeCall(streamID) else { return }
    call.stop(error)
    guard let context = self.context else { return }
    self.writeStatus(error, of: call, context: context)
    self.flushes.flushSoon(context.channel)
    self.callEnded(streamID)
  }

  /// Charges the read's PINGs and refused calls to a tenant key's rate, as calls: a flood of them
  /// is answered, but read no faster than the tenant's calls may start (operator keys are not
  /// limited, as their calls are not).
  private func chargeFrames(context: ChannelHandlerContext) {
    guard self.framesToCharge > 0 else { return }
    let count = self.framesToCharge
    self.framesToCharge = 0
    // Charged even when the connection is closing: the frames were answered all the same.
    guard let tenantID = self.principal?.tenantID,
      let wait = self.dependencies.callRates.charge(
        count, to: tenantID, remembering: &self.lastTenantBucket, now: context.eventLoop.now),
      !self.closed
    else { return }
    self.pauseReads(for: wait, context: context)
  }

  /// Stops reading the connection for `wait`, its tenant's rate's wait for a token.
  private func pauseReads(for wait: Duration, context: ChannelHandlerContext) {
    guard !self.closed else { return }
    self.rateWait?.cancel()
    self.rateWait = context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(wait)) {
      self.rateWait = nil
      self.resumeReadsIfPossible()
    }
  }

  /// Takes an ending call out of the connection's books: its held request bytes and its paused stream.
  private func removeCall(_ streamID: UInt32) -> ServerCall? {
    guard let call = self.calls.removeValue(forKey: streamID) else { return nil }
    self.releaseRequestBytes(call.heldRequestBytes)
    self.pausedStreams.remove(streamID)
    return call
  }

  /// After the call's STATUS, whose `count` set `lastActivity`.
  private func callEnded(_ streamID: UInt32) {
    self.act(self.machine.streamClosed(streamID))
    self.resumeReadsIfPossible()
  }

  /// What the client is told about a handler's error: a domain error as it is, anything else as INTERNAL.
  private func status(for error: any Error, call: ServerCall) -> RPCError {
    switch error {
    case let error as RPCError where error.code != .ok && error.code != .internalError && error.code != .unknown:
      return error
    case is CancellationError:
      return RPCError(code: .cancelled, message: "the call was cancelled")
    default:
      call.context.logger.error("call failed", metadata: ["error": "\(String(reflecting: error))"])
      return RPCError(code: .internalError, message: "internal error (request id \(call.context.requestID))")
    }
  }

  // MARK: Called back from calls' tasks

  func inboundWantsMore(_ streamID: UInt32) {
    if self.pausedStreams.remove(streamID) != nil { self.resumeReadsIfPossible() }
  }

  /// A client-streaming handler asked for its next message, done with the one before: a call
  /// that has ended gave its bytes back when it did.
  func requestBytesReleased(_ bytes: Int, streamID: UInt32) {
    guard let call = self.calls[streamID] else { return }
    call.heldRequestBytes -= bytes
    self.releaseRequestBytes(bytes)
    self.resumeReadsIfPossible()
  }

  func writeStreamMessage(_ streamID: UInt32, _ bytes: [UInt8]) {
    guard let context = self.context, self.calls[streamID] != nil else { return }
    var buffer = context.channel.allocator.buffer(capacity: Frame.headerLength + bytes.count)
    buffer.writeFrame(.message, streamID: streamID, payload: bytes)
    context.writeAndFlush(self.wrapOutboundOut(buffer), promise: nil)
  }

  func writableFuture(on eventLoop: any EventLoop) -> EventLoopFuture<Void> {
    guard let context = self.context else { return eventLoop.makeFailedFuture(ChannelError.ioOnClosedChannel) }
    return self.writabilityWaiters.whenWritable(context.channel)
  }

  // MARK: Helpers

  private func resumeReadsIfPossible() {
    guard self.readPending, let context = self.context, self.mayRead() else { return }
    self.readPending = false
    // The frame in part received waited on the server, not on its peer: its time starts again.
    if self.partialFrameSince != nil { self.partialFrameSince = context.eventLoop.now }
    context.read()
  }

  private func scheduleIdleCheck(in delay: Duration) {
    guard let context = self.context else { return }
    self.idleTimer = context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(delay)) {
      self.idleCheck()
    }
  }

  private func idleCheck() {
    self.idleChecks += 1
    // A peer that has not finished TLS in the handshake timeout could read no GOAWAY: closed now.
    guard self.peerCanRead else { return self.act(.close) }
    guard self.principal != nil else { return self.act(self.machine.idleTimeoutFired()) }
    let idleTimeout = TimeAmount(self.dependencies.limits.idleTimeout)
    let idleFor = NIODeadline.now() - self.lastActivity
    // A call runs once its handler does: a unary or server-streaming call whose request message
    // has not come runs nothing, and waits on the peer as an idle connection does.
    let callRuns = self.calls.values.contains { $0.task != nil || $0.inbound != nil }
    if callRuns || self.waitingForRoom || self.rateWait != nil {
      // Never idle while a call runs, or while the server reads nothing of what the peer sends;
      // its end counts as activity, so a check a whole timeout from now finds the idle time from
      // there (checking sooner would only spin).
      self.scheduleIdleCheck(in: self.dependencies.limits.idleTimeout)
    } else if idleFor >= idleTimeout {
      self.act(
        self.machine.openStreamCount > 0
          ? self.machine.idleTimeoutFiredAwaitingRequests() : self.machine.idleTimeoutFired())
    } else {
      self.scheduleIdleCheck(in: .nanoseconds(max(idleTimeout.nanoseconds - idleFor.nanoseconds, 1_000_000)))
    }
  }

  @discardableResult
  private func writeMessageFrame(
    _ type: FrameType,
    _ message: some Message,
    streamID: UInt32 = 0,
    context: ChannelHandlerContext
  ) -> EventLoopFuture<Void> {
    // Wire messages are small and built here, so serializing them cannot fail.
    let bytes: [UInt8] = (try? message.serializedBytes()) ?? []
    var buffer = context.channel.allocator.buffer(capacity: Frame.headerLength + bytes.count)
    buffer.writeFrame(type, streamID: streamID, payload: bytes)
    self.wroteFrames = true
    return context.write(self.wrapOutboundOut(buffer))
  }

  private func writeStatus(_ error: RPCError, streamID: UInt32, context: ChannelHandlerContext) {
    self.writeMessageFrame(.status, error.statusMessage, streamID: streamID, context: context)
  }

  /// The STATUS that ends `call`, counted in its method's metrics.
  private func writeStatus(_ error: RPCError, of call: ServerCall, context: ChannelHandlerContext) {
    self.count(error.code, of: call.metrics, openedAt: call.openedAt)
    self.writeStatus(error, streamID: call.streamID, context: context)
  }

  /// Counts a call's STATUS, and its time since CALL if it ran. A call that ran is also the
  /// connection's last activity (`callEnded`).
  private func count(_ code: RPCError.Code, of metrics: MethodMetrics, openedAt: NIODeadline? = nil) {
    var duration: TimeAmount?
    if let openedAt {
      self.lastActivity = .now()
      duration = self.lastActivity - openedAt
    }
    metrics.ended(code, after: duration)
  }
}

/// A call's re-check refused its key (revoked, or its tenant suspended), as it started or at a
/// stream's message: the call ends with `error`, and the connection takes no more calls.
struct KeyRefusedError: Error {
  let error: RPCError
}
