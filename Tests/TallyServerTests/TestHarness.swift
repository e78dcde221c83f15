import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import ServiceLifecycle
import SwiftProtobuf
import TallyClient
import TallyCore
import TallyProto
import TallyServer
import TallyTestSupport
import TallyWire
import Testing

/// Keys the test server accepts.
enum TestKeys {
  static let operatorKey = "tly_operator_s3cret"
  static let readerKey = "tly_reader_r3ad"

  static let authenticator = StaticKeyAuthenticator([
    (APIKey(parsing: operatorKey)!, Principal(keyID: "operator", tenantID: nil, scopes: [.operator])),
    (APIKey(parsing: readerKey)!, Principal(keyID: "reader", tenantID: "tenant-a", scopes: [.read])),
  ])
}

/// One CA and server certificate for the whole test process, removed when it exits.
let testCertificates: DevelopmentCertificates = {
  atexit { try? FileManager.default.removeItem(atPath: testCertificatesDirectory()) }
  return try! DevelopmentCertificates.ensure(in: testCertificatesDirectory())
}()

/// Per process, so that two test runs at once do not share (or remove) each other's.
private func testCertificatesDirectory() -> String {
  FileManager.default.temporaryDirectory
    .appendingPathComponent("tally-tests-\(ProcessInfo.processInfo.processIdentifier)").path
}

/// Records what test-only handlers saw, for assertions across the connection.
final class Probe: Sendable {
  private let state = NIOLockedValueBox((started: 0, cancelled: 0))
  var started: Int { self.state.withLockedValue { $0.started } }
  var cancelled: Int { self.state.withLockedValue { $0.cancelled } }
  func didStart() { self.state.withLockedValue { $0.started += 1 } }
  func didCancel() { self.state.withLockedValue { $0.cancelled += 1 } }

  /// Waits (up to `timeout`) for `condition` to hold.
  func waitFor(_ timeout: Duration = .seconds(30), _ condition: @Sendable (Probe) -> Bool) async throws -> Bool {
    try await waitUntil(timeout: timeout) { condition(self) }
  }
}

/// A unary method that waits until its task is cancelled, counting starts and cancellations.
let blockMethod = MethodDescriptor<Tally_V1_PingRequest, Tally_V1_PingResponse>("tally.test.Probe/Block", .unary)
/// A unary method that throws an error that is not an `RPCError`.
let crashMethod = MethodDescriptor<Tally_V1_PingRequest, Tally_V1_PingResponse>("tally.test.Probe/Crash", .unary)
/// Answers with the tenant the call acts on (as its payload), to check CallHeader.tenant_id.
let whoAmIMethod = MethodDescriptor<Tally_V1_PingRequest, Tally_V1_PingResponse>("tally.test.Probe/WhoAmI", .unary)
/// Echoes the payload after 700 ms, counting starts, so a test can act while calls are surely in flight.
let slowEchoMethod = MethodDescriptor<Tally_V1_PingRequest, Tally_V1_PingResponse>("tally.test.Probe/SlowEcho", .unary)
/// Counts the messages of a client stream (its answer's payload), counting starts.
let countMethod = MethodDescriptor<Tally_V1_PingRequest, Tally_V1_PingResponse>(
  "tally.test.Probe/Count", .clientStreaming)
/// Streams one response, then waits until its task is cancelled, counting starts and cancellations.
let trickleMethod = MethodDescriptor<Tally_V1_PingRequest, Tally_V1_PingResponse>(
  "tally.test.Probe/Trickle", .serverStreaming)
/// A method only keys with the write scope may call.
let writeOnlyMethod = MethodDescriptor<Tally_V1_PingRequest, Tally_V1_PingResponse>("tally.test.Probe/Write", .unary)

struct SecretDatabaseError: Error, CustomStringConvertible {
  var description: String { "SELECT secret FROM tenant_b" }
}

/// Pings with `client` (one that does not wait out rate refusals) until a call is refused, at
/// most ten times: how many calls got in, and the refusal with the instant before its call was
/// sent (the server's `retry_after` counts from a moment after it, never before).
func pingUntilRefused(
  _ client: TallyClient
) async throws -> (admitted: Int, refusal: RPCError?, refusedCallSentAt: ContinuousClock.Instant) {
  var admitted = 0
  while admitted < 10 {
    let sentAt = ContinuousClock.now
    do {
      _ = try await client.unary(SystemMethods.ping, Tally_V1_PingRequest())
      admitted += 1
    } catch let error as RPCError {
      return (admitted, error, sentAt)
    }
  }
  return (admitted, nil, .now)
}

/// Runs `body`, expecting it to fail with an `RPCError` of `code`; returns that error.
func expectStatus<T>(
  _ code: RPCError.Code,
  sourceLocation: SourceLocation = #_sourceLocation,
  _ body: () async throws -> T
) async -> RPCError? {
  do {
    _ = try await body()
    Issue.record("expected \(code), the call succeeded", sourceLocation: sourceLocation)
  } catch let error as RPCError {
    #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
    return error
  } catch {
    Issue.record("expected RPCError \(code), got \(error)", sourceLocation: sourceLocation)
  }
  return nil
}

/// A running server on a free loopback port, with TLS from the test certificates.
struct TestServer {
  let server: TallyServer
  let port: Int
  let probe: Probe

  func clientConfiguration(apiKey: String = TestKeys.operatorKey) -> ClientConfiguration {
    ClientConfiguration(
      host: "127.0.0.1",
      port: self.port,
      security: .tls(caCertificatePath: testCertificates.caCertificatePath, serverHostname: nil),
      apiKey: apiKey,
      clientName: "tally-tests"
    )
  }

  func client(apiKey: String = TestKeys.operatorKey) throws -> TallyClient {
    try TallyClient(configuration: self.clientConfiguration(apiKey: apiKey))
  }

  static func router(limits: ServerLimits, probe: Probe) -> Router {
    var router = Router()
    SystemService(limits: limits).register(into: &router)
    router.unary(blockMethod, access: .anyKey) { request, _ in
      probe.didStart()
      do {
        try await Task.sleep(for: .seconds(60))
      } catch {
        probe.didCancel()
        throw error
      }
      return Tally_V1_PingResponse()
    }
    router.unary(crashMethod, access: .anyKey) { _, _ in throw SecretDatabaseError() }
    router.unary(whoAmIMethod, access: .anyKey) { _, context in
      var response = Tally_V1_PingResponse()
      response.payload = Data((context.tenantID ?? "none").utf8)
      return response
    }
    router.unary(slowEchoMethod, access: .anyKey) { request, _ in
      probe.didStart()
      try await Task.sleep(for: .milliseconds(700))
      var response = Tally_V1_PingResponse()
      response.payload = request.payload
      return response
    }
    router.clientStreaming(countMethod, access: .anyKey) { requests, _ in
      probe.didStart()
      var count = 0
      for try await _ in requests { count += 1 }
      var response = Tally_V1_PingResponse()
      response.payload = Data("\(count)".utf8)
      return response
    }
    router.serverStreaming(trickleMethod, access: .anyKey) { _, _, responses in
      probe.didStart()
      try await responses.send(Tally_V1_PingResponse())
      do {
        try await Task.sleep(for: .seconds(60))
      } catch {
        probe.didCancel()
        throw error
      }
    }
    router.unary(writeOnlyMethod, access: .scopes([.write])) { request, _ in
      var response = Tally_V1_PingResponse()
      response.payload = request.payload
      return response
    }
    return router
  }

  /// Runs `body` against a fresh server, then shuts it down gracefully.
  static func with<T>(
    limits: ServerLimits = ServerLimits(),
    shutdownGracePeriod: Duration = .seconds(10),
    authenticator: any Authenticator = TestKeys.authenticator,
    services: (inout Router) -> Void = { _ in },
    _ body: (TestServer, ServiceGroup) async throws -> T
  ) async throws -> T {
    var logger = Logger(label: "tally-test-server")
    logger.logLevel = .critical
    let probe = Probe()
    let configuration = ServerConfiguration(
      host: "127.0.0.1",
      port: 0,
      tls: .init(
        certificateChainPath: testCertificates.serverCertificatePath,
        privateKeyPath: testCertificates.serverKeyPath
      ),
      limits: limits,
      shutdownGracePeriod: shutdownGracePeriod
    )
    var router = Self.router(limits: limits, probe: probe)
    services(&router)
    let server = TallyServer(
      configuration: configuration,
      router: router,
      authenticator: authenticator,
      logger: logger
    )
    let group = ServiceGroup(services: [server], logger: logger)
    return try await withThrowingTaskGroup(of: Void.self) { tasks in
      tasks.addTask { try await group.run() }
      let port = try await server.localAddress.port!
      // A failing body shuts the server down too: otherwise the group would wait for it forever.
      let result: Result<T, any Error>
      do {
        result = .success(try await body(TestServer(server: server, port: port, probe: probe), group))
      } catch {
        result = .failure(error)
      }
      await group.triggerGracefulShutdown()
      try await tasks.waitForAll()
      return try result.get()
    }
  }
}

/// The CALL header of a call to `method`, for `RawConnection.send`.
func callHeader(_ method: String, timeoutMs: UInt64 = 0) -> Tally_V1_CallHeader {
  var header = Tally_V1_CallHeader()
  header.method = method
  header.timeoutMs = timeoutMs
  return header
}

/// A TLS connection that speaks raw frames, for the protocol's error cases.
final class RawConnection: Sendable {
  private let channel: any Channel
  private let received: Received

  /// Frames read so far, whether TLS is up, and whether the server closed the connection.
  private final class Received: ChannelInboundHandler, Sendable {
    typealias InboundIn = Frame
    let state = NIOLockedValueBox((frames: [Frame](), closed: false, tlsEstablished: false))
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
      let frame = self.unwrapInboundIn(data)
      self.state.withLockedValue { $0.frames.append(frame) }
    }
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
      if case .handshakeCompleted = event as? TLSUserEvent { self.state.withLockedValue { $0.tlsEstablished = true } }
      context.fireUserInboundEventTriggered(event)
    }
    func channelInactive(context: ChannelHandlerContext) { self.state.withLockedValue { $0.closed = true } }
    func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
  }

  init(port: Int) async throws {
    var tls = TLSConfiguration.makeClientConfiguration()
    tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(testCertificates.caCertificatePath))
    let context = try NIOSSLContext(configuration: tls)
    let received = Received()
    self.received = received
    self.channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
      .channelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
          try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: context, serverHostname: nil))
          try channel.pipeline.syncOperations.addHandler(
            ByteToMessageHandler(FrameDecoder(maxPayload: 1 << 30, expectsMagic: false))
          )
          try channel.pipeline.syncOperations.addHandler(received)
        }
      }
      .connect(host: "127.0.0.1", port: port).get()
  }

  func send(_ bytes: [UInt8]) async throws {
    try await self.channel.writeAndFlush(ByteBuffer(bytes: bytes))
  }

  func send(_ type: FrameType, flags: FrameFlags = [], streamID: UInt32 = 0, _ message: some Message) async throws {
    var buffer = ByteBuffer()
    buffer.writeFrame(type, flags: flags, streamID: streamID, payload: try message.encodedBytes())
    try await self.channel.writeAndFlush(buffer)
  }

  /// Magic, a HELLO with the operator key and `frames`, in one write: the server holds frames that
  /// come before its WELCOME and acts on them right after it, so no timer runs in between.
  func handshake(then frames: [(FrameType, FrameFlags, UInt32, any Message)]) async throws {
    var hello = Tally_V1_Hello()
    hello.protocolVersion = 1
    hello.apiKey = TestKeys.operatorKey
    var buffer = ByteBuffer(bytes: ConnectionMagic.bytes)
    buffer.writeFrame(.hello, payload: try hello.encodedBytes())
    for (type, flags, streamID, message) in frames {
      buffer.writeFrame(type, flags: flags, streamID: streamID, payload: try message.encodedBytes())
    }
    try await self.channel.writeAndFlush(buffer)
  }

  /// Magic and a HELLO with `apiKey`.
  func handshake(apiKey: String = TestKeys.operatorKey) async throws {
    var hello = Tally_V1_Hello()
    hello.protocolVersion = 1
    hello.apiKey = apiKey
    try await self.send(ConnectionMagic.bytes)
    try await self.send(.hello, hello)
  }

  /// The next frame; nil when the server closed the connection or nothing came in time.
  func nextFrame(timeout: Duration = .seconds(20)) async -> Frame? {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
      let (frame, closed): (Frame?, Bool) = self.received.state.withLockedValue { state in
        state.frames.isEmpty ? (nil, state.closed) : (state.frames.removeFirst(), false)
      }
      if let frame { return frame }
      if closed { return nil }
      try? await Task.sleep(for: .milliseconds(5))
    }
    return nil
  }

  /// Every frame until the server closes the connection; nil if it stays open past `timeout`.
  func framesUntilClosed(timeout: Duration = .seconds(20)) async -> [Frame]? {
    let deadline = ContinuousClock.now + timeout
    var frames: [Frame] = []
    while ContinuousClock.now < deadline {
      guard let frame = await self.nextFrame(timeout: deadline - ContinuousClock.now) else {
        return self.received.state.withLockedValue { $0.closed } ? frames : nil
      }
      frames.append(frame)
    }
    return nil
  }

  /// Reads frames until GOAWAY, returning it; nil if the connection closed without one.
  func nextGoAway(timeout: Duration = .seconds(20)) async -> Tally_V1_GoAway? {
    while let frame = await self.nextFrame(timeout: timeout) {
      if frame.type == .goAway { return try? Tally_V1_GoAway(decoding: frame.payload) }
    }
    return nil
  }

  /// Reads frames until a STATUS, returning it with its stream id.
  func nextStatus(timeout: Duration = .seconds(20)) async -> (UInt32, Tally_V1_Status)? {
    while let frame = await self.nextFrame(timeout: timeout) {
      if frame.type == .status, let status = try? Tally_V1_Status(decoding: frame.payload) {
        return (frame.streamID, status)
      }
    }
    return nil
  }

  /// True once the TLS handshake has finished: the server has then set the connection up.
  func waitForTLS(timeout: Duration = .seconds(20)) async -> Bool {
    await Self.waitUntil(timeout: timeout) { self.received.state.withLockedValue { $0.tlsEstablished } }
  }

  /// True once the server has closed the connection.
  func waitForClose(timeout: Duration = .seconds(20)) async -> Bool {
    await Self.waitUntil(timeout: timeout) { !self.channel.isActive }
  }

  /// `waitUntil`, every 5 ms; false if the task is cancelled.
  private static func waitUntil(timeout: Duration, _ condition: () -> Bool) async -> Bool {
    (try? await TallyTestSupport.waitUntil(timeout: timeout, every: .milliseconds(5), condition)) ?? condition()
  }

  func close() async { try? await self.channel.close() }
}
