import NIOConcurrencyHelpers
public import NIOCore
public import NIOPosix
import NIOSSL
public import SwiftProtobuf
public import TallyProto
public import TallyWire

/// A Tally client: one connection multiplexing many concurrent calls, opened on first use and
/// opened again after a GOAWAY or a lost connection.
///
/// Calls that a closing connection refused before they started are sent again on a new one
/// (unary and server-streaming; up to `maxAttempts`, after a back-off when the server was busy or
/// lost), and so are calls refused by their tenant's rate limit, after the wait the server asks
/// for (up to `maxRateLimitWait` in all). A call's timeout spans all of its attempts and waits.
/// Errors are `RPCError`s: status code and message.
public final class TallyClient: Sendable {
  private let configuration: ClientConfiguration
  /// How long, in all, a call may wait out its tenant's rate refusals before failing with one.
  public var maxRateLimitWait: Duration { self.configuration.maxRateLimitWait }
  private let group: any EventLoopGroup
  private let tlsContext: NIOSSLContext?
  private let slot = NIOLockedValueBox(Slot.idle)

  private enum Slot {
    case idle
    case connecting(EventLoopFuture<Connection>)
    case connected(Connection)
  }

  /// Whether a connection is being made now (for tests).
  var isConnecting: Bool {
    self.slot.withLockedValue { if case .connecting = $0 { true } else { false } }
  }

  /// One open connection and its handler, reachable from any thread.
  struct Connection: Sendable {
    let channel: any Channel
    let handler: NIOLoopBound<ClientConnectionHandler>
    let status: ConnectionStatus
    let welcome: EventLoopFuture<Tally_V1_Welcome>
  }

  public init(
    configuration: ClientConfiguration,
    eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
  ) throws {
    self.configuration = configuration
    self.group = eventLoopGroup
    switch configuration.security {
    case .plaintext:
      self.tlsContext = nil
    case .tls(let caPath, _):
      var tls = TLSConfiguration.makeClientConfiguration()
      tls.minimumTLSVersion = .tlsv12
      tls.applicationProtocols = ["tally/1"]
      if let caPath {
        do {
          tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caPath))
        } catch {
          throw RPCError(
            code: .invalidArgument,
            message: "cannot read a PEM CA certificate from \(caPath): \(error)",
            cause: error
          )
        }
      }
      self.tlsContext = try NIOSSLContext(configuration: tls)
    }
  }

  private var endpoint: String { "\(self.configuration.host):\(self.configuration.port)" }

  // MARK: Calls

  static let cancelledBeforeSent = RPCError(code: .cancelled, message: "the call was cancelled before it was sent")
  static let connectingTookItsTime = RPCError(
    code: .deadlineExceeded, message: "the call's timeout passed while its connection was made")

  /// One request, one response.
  public func unary<Request, Response>(
    _ method: MethodDescriptor<Request, Response>,
    _ request: Request,
    options: CallOptions = CallOptions()
  ) async throws -> Response {
    let bytes = try self.encode(request)
    return try await self.withRetries(options) { connection, options in
      let call = try self.start(
        method.fullName, on: connection, messages: [bytes], endStream: true, singleResponse: true, options: options)
      return try await call.withCancellation { try await call.singleResponse(Response.self, method.fullName) }
    }
  }

  /// One request, a stream of responses handed to `body` as they arrive.
  ///
  /// While 16 of them wait unread, the connection reads nothing more (docs/PROTOCOL.md, "Responses
  /// the Swift client holds"): a call that `body` makes on this client before it has read them down
  /// to 8 waits for an answer that is not read until it does. Make such calls on another client.
  public func serverStreaming<Request, Response, Result: Sendable>(
    _ method: MethodDescriptor<Request, Response>,
    _ request: Request,
    options: CallOptions = CallOptions(),
    _ body: @Sendable (ResponseStream<Response>) async throws -> Result
  ) async throws -> Result {
    let bytes = try self.encode(request)
    do {
      return try await self.withRetries(options) { connection, options in
        let call = try self.start(
          method.fullName, on: connection, messages: [bytes], endStream: true, singleResponse: false, options: options)
        let responses = ResponseStream<Response>(call.responseStream)
        do {
          return try await call.withCancellation { try await body(responses) }
        } catch {
          // Sent again only when the call itself was refused, before any response: an error of the
          // body's own (a nested call's rate refusal, say) ran the body again, and its writes twice.
          guard responses.refusedBeforeAnyResponse else { throw BodyError(error: error) }
          throw error
        }
      }
    } catch let error as BodyError {
      throw error.error
    }
  }

  /// A stream of requests written by `requests`, one response.
  public func clientStreaming<Request, Response>(
    _ method: MethodDescriptor<Request, Response>,
    options: CallOptions = CallOptions(),
    _ requests: @Sendable (RequestWriter<Request>) async throws -> Void
  ) async throws -> Response {
    let deadline = options.timeout.map { ContinuousClock.now + $0 }
    let connection = try await self.connection(before: deadline)
    if Task.isCancelled { throw Self.cancelledBeforeSent }
    // The time spent connecting is the call's too.
    guard let left = options.forAttempt(after: .zero, deadline: deadline) else { throw Self.connectingTookItsTime }
    let call = try self.start(
      method.fullName, on: connection, messages: [], endStream: false, singleResponse: true, options: left)
    // Never sent again (its requests are written once), so a refusal is the caller's error as is.
    do {
      return try await call.withCancellation {
        let writer = RequestWriter<Request>(call: call, client: self)
        do {
          try await requests(writer)
          try await writer.finish()
        } catch {
          // A call the server ended early stopped the writing: its STATUS says why. Any other
          // error (the caller's own) is the caller's answer.
          guard writer.stoppedByTheCallsEnd else { throw error }
        }
        return try await call.singleResponse(Response.self, method.fullName)
      }
    } catch let refused as RefusedBeforeStart {
      throw refused.reason
    }
  }

  /// The current connection's event loop as a task executor, `nil` until connected. Calls made from
  /// a task that prefers it (`Task(executorPreference:)`) start and resume on the loop that carries
  /// their frames, with no hop to Swift's global pool and back; such a task must never block.
  public var connectionExecutor: (any TaskExecutor)? {
    self.slot.withLockedValue { slot in
      guard case .connected(let connection) = slot else { return nil }
      return EventLoopTaskExecutor(eventLoop: connection.channel.eventLoop)
    }
  }

  /// The server's WELCOME on the current connection (connecting if needed).
  public func welcome() async throws -> Tally_V1_Welcome {
    try await self.connection().welcome.get()
  }

  /// Says GOAWAY to the server, lets the calls in flight get their STATUS (the server closes the
  /// connection after the last, PROTOCOL.md §7), and closes it after `drainLimit` in any case.
  /// Calls not yet sent fail; a call made after `close` connects again. A connection still being
  /// made is not waited for (its connect timeout): it closes as soon as it exists.
  public func close(drainLimit: Duration = .seconds(5)) async {
    let slot = self.slot.withLockedValue { slot in
      defer { slot = .idle }
      return slot
    }
    let connection: Connection
    switch slot {
    case .idle: return
    case .connected(let open): connection = open
    case .connecting(let future):
      // Not waited for: a connect may take its whole timeout, and its handshake as long again.
      // The connection, if one comes, is closed as soon as it exists, and the calls that waited
      // for it fail as closed by the client rather than take a new one.
      future.whenSuccess { connection in
        connection.channel.eventLoop.execute {
          connection.handler.value.goAway()
          connection.channel.close(promise: nil)
        }
      }
      return
    }
    let channel = connection.channel
    let drained = channel.eventLoop.submit {
      connection.handler.value.goAway()
      return channel.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(min(drainLimit, CallOptions.maxTimeout))) {
        channel.close(promise: nil)
      }
    }
    try? await channel.closeFuture.get()
    try? await drained.get().cancel()
  }

  // MARK: Plumbing

  func encode(_ message: some Message) throws -> [UInt8] {
    do {
      return try message.serializedBytes()
    } catch {
      throw RPCError(code: .invalidArgument, message: "the request could not be encoded: \(error)", cause: error)
    }
  }

  static func decode<M: Message>(_ type: M.Type, _ payload: ByteBuffer) throws -> M {
    do {
      return try M(decoding: payload)
    } catch {
      throw RPCError(
        code: .internalError,
        message: "the server's response is not a valid \(M.protoMessageName)",
        cause: error
      )
    }
  }

  /// Runs `attempt` again while its call is refused before it started. Each attempt gets what is
  /// left of the call's timeout; a call whose next attempt could not start before its deadline
  /// fails with the error that refused the last one, which says more than DEADLINE_EXCEEDED.
  private func withRetries<T>(
    _ options: CallOptions,
    _ attempt: (Connection, CallOptions) async throws -> T
  ) async throws -> T {
    let deadline = options.timeout.map { ContinuousClock.now + $0 }
    var options = options
    var attempts = 1
    var rateLimitWaits = RateLimitWaits(budget: self.configuration.maxRateLimitWait)
    while true {
      // A task cancelled before its call was sent sends nothing: the server might have run it.
      if Task.isCancelled { throw Self.cancelledBeforeSent }
      let wait: Duration
      let refusal: any Error
      do {
        let connection: Connection
        do {
          connection = try await self.connection(before: deadline)
        } catch let error as RPCError where error.code == .unavailable {
          // Not connected, so nothing was sent: a server restarting may take the next attempt. A
          // host silent for the whole connect timeout is not restarting: waiting twice more is
          // only slower to say so.
          if case ChannelError.connectTimeout? = error.cause { throw error }
          throw RefusedBeforeStart(reason: error, backOff: true)
        }
        // Cancelled while it connected: still nothing sent, and nothing will be.
        if Task.isCancelled { throw Self.cancelledBeforeSent }
        // The time spent connecting is the call's too: the attempt gets what is left of it.
        guard let left = options.forAttempt(after: .zero, deadline: deadline) else { throw Self.connectingTookItsTime }
        return try await attempt(connection, left)
      } catch let refused as RefusedBeforeStart {
        guard attempts < self.configuration.maxAttempts else { throw refused.reason }
        attempts += 1
        wait = refused.backOff ? self.configuration.backoff(beforeAttempt: attempts) : .zero
        refusal = refused.reason
      } catch {
        guard let rateWait = rateLimitWaits.wait(after: error) else { throw error }
        wait = rateWait
        refusal = error
      }
      guard let next = options.forAttempt(after: wait, deadline: deadline) else { throw refusal }
      options = next
      if wait > .zero { try await RateLimitWaits.sleep(for: wait) }
    }
  }

  private func start(
    _ method: String,
    on connection: Connection,
    messages: [[UInt8]],
    endStream: Bool,
    singleResponse: Bool,
    options: CallOptions
  ) throws -> ActiveCall {
    let header = Self.callHeader(method, options: options)
    try Self.checkSize(of: header)
    let handle = StreamHandle()
    let handler = connection.handler
    let responses: ActiveCall.Responses
    let route: ResponseRoute
    if singleResponse {
      let promise = connection.channel.eventLoop.makePromise(of: ByteBuffer?.self)
      (responses, route) = (.single(promise.futureResult), .single(promise))
    } else {
      let payloads = ResponseBuffer.make(demand: ResponseDemand(handler: handler, handle: handle))
      (responses, route) = (.stream(payloads.sequence), .stream(payloads.source))
    }
    let timeout = options.timeout
    connection.channel.eventLoop.execute {
      let handler = handler.value
      if let oversized = messages.first(where: { $0.count > handler.maxFramePayload }) {
        let error = RPCError(
          code: .resourceExhausted,
          message:
            "the request message of \(oversized.count) bytes is above the server's max_frame_payload (\(handler.maxFramePayload))"
        )
        return route.finish(throwing: error)
      }
      handler.startCall(
        .init(
          header: header,
          messages: messages,
          endStream: endStream,
          handle: handle,
          timeout: timeout,
          responses: route
        )
      )
    }
    return ActiveCall(connection: connection, handle: handle, responses: responses)
  }

  private static func callHeader(_ method: String, options: CallOptions) -> Tally_V1_CallHeader {
    var header = Tally_V1_CallHeader()
    header.method = method
    if let timeout = options.timeout {
      header.timeoutMs = UInt64(clamping: max(1, timeout.wholeMilliseconds))
    }
    header.requestID = options.requestID ?? ""
    header.idempotencyKey = options.idempotencyKey ?? ""
    header.tenantID = options.tenantID ?? ""
    header.metadata = options.metadata
    return header
  }

  /// A header the server would refuse (past `Frame.maxCallHeaderPayload`, or metadata past
  /// `CallMetadata.maxHeldBytes`) fails here, saying why; only metadata or very long ids make one
  /// that large, so others are not measured.
  private static func checkSize(of header: Tally_V1_CallHeader) throws {
    let ids =
      header.method.utf8.count + header.requestID.utf8.count + header.idempotencyKey.utf8.count
      + header.tenantID.utf8.count
    if !header.metadata.isEmpty || ids > 1_024 {
      let size = (try? header.serializedBytes() as [UInt8])?.count ?? 0
      if size > Frame.maxCallHeaderPayload {
        throw RPCError(
          code: .resourceExhausted,
          message:
            "the call's header (method, ids and metadata) is \(size) bytes, above the \(Frame.maxCallHeaderPayload) "
            + "a server takes; send less metadata"
        )
      }
    }
    if let refusal = CallMetadata.refusal(of: header.metadata) { throw refusal }
  }

  private func makeHello() -> Tally_V1_Hello {
    var hello = Tally_V1_Hello()
    hello.protocolVersion = tallyProtocolVersion
    hello.clientName = self.configuration.clientName
    hello.apiKey = self.configuration.apiKey
    return hello
  }

  /// The current connection, or a new one when there is none or it is going away.
  /// The current connection, or a new one; a call's `deadline` bounds the wait for a new one
  /// (DEADLINE_EXCEEDED), which `connectTimeout` alone would let run on.
  func connection(before deadline: ContinuousClock.Instant? = nil) async throws -> Connection {
    enum Next {
      case ready(Connection)
      case waitFor(EventLoopFuture<Connection>, made: Bool)
    }
    // Connected: the connection itself, with no future to wait on (most calls).
    let next: Next = self.slot.withLockedValue { slot in
      switch slot {
      case .connected(let connection) where connection.status.isUsable:
        return .ready(connection)
      case .connecting(let future):
        return .waitFor(future, made: false)
      case .idle, .connected:
        let future = self.connect()
        slot = .connecting(future)
        return .waitFor(future, made: true)
      }
    }
    let future: EventLoopFuture<Connection>
    switch next {
    case .ready(let connection): return connection
    case .waitFor(let pending, let made):
      future = pending
      if made { self.settleSlot(when: pending) }
    }
    do {
      let connection = try await Self.value(of: future, before: deadline, endpoint: self.endpoint)
      // `settleSlot` does the same when its callback runs; done here too, a call that resumed
      // before it (a waiter registered first) never finds the settled future in the slot.
      self.slot.withLockedValue { slot in
        if case .connecting(let pending) = slot, pending === future { slot = .connected(connection) }
      }
      return connection
    } catch let passed as DeadlinePassedWhileConnecting {
      // The connection goes on being made, and stays in the slot for the calls after this one.
      throw passed.error
    } catch {
      self.slot.withLockedValue { slot in
        if case .connecting(let pending) = slot, pending === future { slot = .idle }
      }
      throw error as? RPCError
        ?? RPCError(
          code: .unavailable,
          message:
            "could not connect to \(self.endpoint): \(ConnectionFailure.describe(error, endpoint: self.endpoint))",
          retryAfter: .seconds(1),
          cause: error
        )
    }
  }

  /// The slot follows its connect to the end, whether or not a call still waits for it: once every
  /// call's deadline passed while connecting, it kept the outcome for the next call, hours later
  /// maybe (an old connect timeout, failed at once without a new attempt).
  private func settleSlot(when future: EventLoopFuture<Connection>) {
    let slot = self.slot
    future.whenComplete { result in
      slot.withLockedValue { slot in
        guard case .connecting(let pending) = slot, pending === future else { return }
        switch result {
        case .success(let connection): slot = .connected(connection)
        case .failure: slot = .idle
        }
      }
    }
  }

  private struct DeadlinePassedWhileConnecting: Error {
    var error: RPCError
  }

  /// `future`'s value, or DEADLINE_EXCEEDED once `deadline` passes first (the connection goes on
  /// being made, for the calls after this one).
  private static func value(
    of future: EventLoopFuture<Connection>, before deadline: ContinuousClock.Instant?, endpoint: String
  ) async throws -> Connection {
    guard let deadline else { return try await future.get() }
    let waiting = NIOLockedValueBox<CheckedContinuation<Connection, any Error>?>(nil)
    let take: @Sendable () -> CheckedContinuation<Connection, any Error>? = {
      waiting.withLockedValue { continuation in
        defer { continuation = nil }
        return continuation
      }
    }
    return try await withCheckedThrowingContinuation { continuation in
      waiting.withLockedValue { $0 = continuation }
      let left = deadline - ContinuousClock.now
      let timer = future.eventLoop.scheduleTask(in: TimeAmount(max(left, .zero))) {
        let error = RPCError(
          code: .deadlineExceeded, message: "the call's timeout passed while connecting to \(endpoint)")
        take()?.resume(throwing: DeadlinePassedWhileConnecting(error: error))
      }
      future.whenComplete { result in
        timer.cancel()
        take()?.resume(with: result)
      }
    }
  }

  private func connect() -> EventLoopFuture<Connection> {
    let hello = self.makeHello()
    let tlsContext = self.tlsContext
    let serverHostname: String? =
      if case .tls(_, let name) = self.configuration.security { name ?? self.configuration.host } else { nil }
    let endpoint = self.endpoint
    let handshakeTimeout = self.configuration.connectTimeout
    let eventLoop = self.group.next()
    // Each attempt's connection, made with its channel (a channel that closed before `connect`
    // answers has no handler left to look up, and its WELCOME's failure says why).
    let attempts = NIOLockedValueBox<[ObjectIdentifier: Connection]>([:])
    let connected = ClientBootstrap(group: eventLoop)
      .connectTimeout(TimeAmount(self.configuration.connectTimeout))
      .channelOption(.socketOption(.tcp_nodelay), value: 1)
      .channelOption(.socketOption(.so_keepalive), value: 1)
      .channelOption(Self.tcpOption(TCP_KEEPIDLE), value: Self.keepaliveIdleSeconds)
      .channelOption(Self.tcpOption(TCP_KEEPINTVL), value: Self.keepaliveIntervalSeconds)
      .channelOption(Self.tcpOption(TCP_KEEPCNT), value: Self.keepaliveProbes)
      .channelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
          let pipeline = channel.pipeline.syncOperations
          if let tlsContext {
            let hostname = serverHostname.flatMap { Self.isIPAddress($0) ? nil : $0 }
            try pipeline.addHandler(NIOSSLClientHandler(context: tlsContext, serverHostname: hostname))
          }
          let handler = ClientConnectionHandler(
            hello: hello,
            endpoint: endpoint,
            welcome: channel.eventLoop.makePromise(of: Tally_V1_Welcome.self),
            handshakeTimeout: handshakeTimeout
          )
          try pipeline.addHandler(handler)
          let connection = Connection(
            channel: channel,
            handler: NIOLoopBound(handler, eventLoop: channel.eventLoop),
            status: handler.status,
            welcome: handler.welcome.futureResult
          )
          attempts.withLockedValue { $0[ObjectIdentifier(channel)] = connection }
        }
      }
      .connect(host: self.configuration.host, port: self.configuration.port)
    // The connection is the channel that connected: a name with several addresses has a channel
    // initialized per attempt (Happy Eyeballs), and the first one made may be one that failed.
    return connected.flatMapThrowing { channel in
      guard let connection = attempts.withLockedValue({ $0[ObjectIdentifier(channel)] }) else {
        throw RPCError(code: .internalError, message: "the connected channel was never initialized")
      }
      return connection
    }
  }

  /// TCP keepalive on every connection: a server host that vanishes without FIN or RST (a
  /// failover, a paused VM) would leave a call without a timeout waiting for ever. The kernel
  /// probes after 30 s of silence, 3 times 10 s apart, then fails the connection (UNAVAILABLE),
  /// about a minute in all. Probes are answered by the peer's kernel, so a server that is only
  /// slow, or a stream whose reads are held, is never taken for a lost one.
  static let keepaliveIdleSeconds = 30
  static let keepaliveIntervalSeconds = 10
  static let keepaliveProbes = 3

  static func tcpOption(_ name: Int32) -> ChannelOptions.Types.SocketOption {
    ChannelOptions.Types.SocketOption(level: .tcp, name: NIOBSDSocket.Option(rawValue: name))
  }

  private static func isIPAddress(_ host: String) -> Bool {
    (try? SocketAddress(ipAddress: host, port: 0)) != nil
  }
}

/// A started call: its responses, and the means to cancel it.
struct ActiveCall: Sendable {
  /// A server-streaming call's responses as a stream; a unary or client-streaming call's one
  /// response when its STATUS arrives.
  enum Responses: Sendable {
    case stream(ResponsePayloads)
    case single(EventLoopFuture<ByteBuffer?>)
  }

  let connection: TallyClient.Connection
  let handle: StreamHandle
  let responses: Responses

  /// The one response of a unary or client-streaming call, once its STATUS said OK.
  func singleResponse<Response: Message>(_ type: Response.Type, _ method: String) async throws -> Response {
    guard case .single(let future) = self.responses else {
      preconditionFailure("\(method) was started with a response stream")
    }
    guard let payload = try await future.get() else {
      throw RPCError(code: .internalError, message: "the server ended \(method) without a response")
    }
    return try TallyClient.decode(Response.self, payload)
  }

  /// A server-streaming call's responses.
  var responseStream: ResponsePayloads {
    guard case .stream(let stream) = self.responses else {
      preconditionFailure("a single-response call has no response stream")
    }
    return stream
  }

  /// Runs `body`; if the calling task is cancelled meanwhile, the server is sent CANCEL. So it is
  /// when `body` throws or leaves a response stream unread: otherwise the server would go on
  /// waiting or sending, and the stream would hold a place under max_concurrent_streams for good.
  func withCancellation<T>(_ body: () async throws -> T) async throws -> T {
    let result: T
    do {
      result = try await withTaskCancellationHandler {
        try await body()
      } onCancel: {
        self.cancel()
      }
    } catch {
      self.cancel()
      throw error
    }
    // A single response arrives with its STATUS; a stream may have been left before its end.
    if case .stream = self.responses { self.cancel() }
    return result
  }

  /// Sends CANCEL unless the call has already ended (its STATUS came, or it never started).
  private func cancel() {
    let handler = self.connection.handler
    let handle = self.handle
    self.connection.channel.eventLoop.execute { handler.value.cancel(handle) }
  }
}

/// The responses of a server-streaming call, decoded as they arrive.
/// At most `ResponseBuffer.highWatermark` of them wait unread: then the connection stops reading
/// (its other calls' frames wait too) until the caller takes some. Read once: a second iteration
/// throws (the responses a first one took are gone).
public struct ResponseStream<Element: Message>: AsyncSequence, Sendable {
  let payloads: ResponsePayloads
  private let iterated = NIOLockedValueBox(false)
  /// Whether a response was read, and whether reading threw (the call's own STATUS).
  private let progress = NIOLockedValueBox((responses: 0, threw: false))

  init(_ payloads: ResponsePayloads) { self.payloads = payloads }

  /// Whether the call ended in an error before its first response: only then may it be sent again.
  var refusedBeforeAnyResponse: Bool { self.progress.withLockedValue { $0.threw && $0.responses == 0 } }

  public func makeAsyncIterator() -> AsyncIterator {
    let again = self.iterated.withLockedValue { iterated in
      defer { iterated = true }
      return iterated
    }
    // NIO's sequence allows one iterator (a second one traps): a second iteration gets an error.
    return AsyncIterator(base: again ? nil : self.payloads.makeAsyncIterator(), progress: self.progress)
  }

  public struct AsyncIterator: AsyncIteratorProtocol {
    var base: ResponsePayloads.AsyncIterator?
    let progress: NIOLockedValueBox<(responses: Int, threw: Bool)>
    public mutating func next() async throws -> Element? {
      guard self.base != nil else {
        throw RPCError(code: .failedPrecondition, message: "a call's responses are read once; this is a second reading")
      }
      let payload: ByteBuffer?
      do {
        payload = try await self.base!.next()
      } catch is CancellationError {
        throw RPCError(code: .cancelled, message: "the call was cancelled")
      } catch {
        self.progress.withLockedValue { $0.threw = true }
        throw error
      }
      if payload != nil { self.progress.withLockedValue { $0.responses += 1 } }
      guard let payload else {
        // The stream also ends when the consuming task is cancelled: that is no clean end.
        if Task.isCancelled { throw RPCError(code: .cancelled, message: "the call was cancelled") }
        return nil
      }
      return try TallyClient.decode(Element.self, payload)
    }
  }
}

/// Writes the requests of a client-streaming call. The last message carries END_STREAM, so each
/// message is held until the next one (or the end) arrives.
public final class RequestWriter<Element: Message>: Sendable {
  private let call: ActiveCall
  private let client: TallyClient
  private let held = NIOLockedValueBox<[UInt8]?>(nil)
  /// Set when the call's STATUS came before its last request: the server takes no more of them,
  /// so `send` throws this (the call's error) rather than write the rest for nothing.
  private let ending = NIOLockedValueBox<(any Error)?>(nil)
  /// Whether `send` threw `ending`: the caller's requests stopped because the call had ended.
  private let stopped = NIOLockedValueBox(false)

  init(call: ActiveCall, client: TallyClient) {
    self.call = call
    self.client = client
    guard case .single(let response) = call.responses else { return }
    response.whenComplete { [ending] result in
      ending.withLockedValue { ending in
        switch result {
        case .failure(let error): ending = error
        case .success:
          ending = RPCError(code: .cancelled, message: "the server answered before the last request message")
        }
      }
    }
  }

  /// True once `send` refused a message because the call had its STATUS already.
  var stoppedByTheCallsEnd: Bool { self.stopped.withLockedValue { $0 } }

  /// Sends `message` (each is held until the next one or the end, so that the last carries
  /// END_STREAM); throws the call's error once the server has ended the call.
  public func send(_ message: Element) async throws {
    if let ended = self.ending.withLockedValue({ $0 }) {
      self.stopped.withLockedValue { $0 = true }
      throw ended
    }
    let bytes = try self.client.encode(message)
    let previous: [UInt8]? = self.held.withLockedValue { held in
      defer { held = bytes }
      return held
    }
    if let previous {
      try await self.write(previous, endStream: false)
    }
  }

  /// Sends the held message with END_STREAM (an empty message if none was sent).
  func finish() async throws {
    let held: [UInt8]? = self.held.withLockedValue { held in
      defer { held = nil }
      return held
    }
    let last = held ?? []
    try await self.write(last, endStream: true)
  }

  private func write(_ bytes: [UInt8], endStream: Bool) async throws {
    try Task.checkCancellation()
    let handler = self.call.connection.handler
    let handle = self.call.handle
    let channel = self.call.connection.channel
    channel.eventLoop.execute { handler.value.sendMessage(bytes, endStream: endStream, handle: handle) }
    // A call waiting for one of the server's streams keeps its messages in the queue: one at a
    // time. Until the loop has opened it, the loop is asked (after this message, in order), since
    // whether it was queued is decided there.
    if handle.streamID == nil {
      try await channel.eventLoop.flatSubmit { handler.value.whenOutOfQueue(handle, on: channel.eventLoop) }.get()
    }
    if !channel.isWritable {
      let writable = channel.eventLoop.flatSubmit { handler.value.whenWritable(on: channel.eventLoop) }
      try await Self.until(writable, orEndOf: self.call).get()
    }
  }

  /// `writable`, or nothing once the call has ended (cancelled, past its deadline, answered): a
  /// server that reads nothing more would otherwise hold the writer until it did, whatever became
  /// of the call (the next `send` then throws its end).
  private static func until(_ writable: EventLoopFuture<Void>, orEndOf call: ActiveCall) -> EventLoopFuture<Void> {
    guard case .single(let response) = call.responses else { return writable }
    let either = writable.eventLoop.makePromise(of: Void.self)
    let open = NIOLockedValueBox(true)
    let first: @Sendable (Result<Void, any Error>) -> Void = { result in
      let isFirst = open.withLockedValue { isOpen in
        defer { isOpen = false }
        return isOpen
      }
      if isFirst { either.completeWith(result) }
    }
    writable.whenComplete(first)
    response.whenComplete { _ in first(.success(())) }
    return either.futureResult
  }
}

/// An error a server stream's body threw that was not its call's refusal: never sent again.
private struct BodyError: Error {
  let error: any Error
}
