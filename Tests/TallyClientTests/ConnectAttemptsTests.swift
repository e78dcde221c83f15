import Glibc
import NIOCore
import NIOPosix
import TallyProto
import TallyWire
import Testing

@testable import TallyClient

/// A call's timeout while the client is still connecting, and connections refused outright: on
/// loopback listeners that never answer, with no server behind them.
@Suite struct ConnectAttemptsTests {
  /// A loopback port that listens with a full accept queue and never accepts (reads off, so no
  /// accept): Linux drops the next SYN, so a connect to it hangs until the client gives up.
  private func withUnansweredPort<T>(_ body: (Int) async throws -> T) async throws -> T {
    let group = MultiThreadedEventLoopGroup.singleton
    let listener = try await ServerBootstrap(group: group)
      .serverChannelOption(.backlog, value: 0)
      .serverChannelOption(.autoRead, value: false)
      .bind(host: "127.0.0.1", port: 0).get()
    let port = try #require(listener.localAddress?.port)
    // Fill the accept queue (one place at backlog 0, spares for the kernel's rounding); each
    // filler's connect completes or hangs, and is given up after a moment either way.
    var fillers: [EventLoopFuture<any Channel>] = []
    for _ in 0..<3 {
      fillers.append(
        ClientBootstrap(group: group).connectTimeout(.milliseconds(200)).connect(host: "127.0.0.1", port: port))
    }
    var filled: [any Channel] = []
    for filler in fillers { if let channel = try? await filler.get() { filled.append(channel) } }
    defer {
      for channel in filled + [listener] { channel.close(promise: nil) }
    }
    return try await body(port)
  }

  private func client(
    port: Int, backoff: Duration = .milliseconds(50), connectTimeout: Duration = .seconds(3)
  ) throws -> TallyClient {
    try TallyClient(
      configuration: ClientConfiguration(
        host: "127.0.0.1", port: port, security: .plaintext, apiKey: "tly_unused", connectTimeout: connectTimeout,
        retryBackoff: backoff))
  }

  @Test func aCallsTimeoutCoversTheWaitToConnect() async throws {
    try await self.withUnansweredPort { port in
      let client = try self.client(port: port, connectTimeout: .seconds(30))
      let started = ContinuousClock.now
      let error = await #expect(throws: RPCError.self) {
        try await client.unary(
          SystemMethods.ping, Tally_V1_PingRequest(), options: CallOptions(timeout: .milliseconds(300)))
      }
      #expect(error?.code == .deadlineExceeded, "\(String(describing: error))")
      #expect(ContinuousClock.now - started < .seconds(10), "not the 30 s connect timeout")
      await client.close()
    }
  }

  /// A connect that outlived its only call's deadline and then timed out leaves no stale failure
  /// for the next call, which connects afresh (it failed at once with the old connect timeout).
  @Test func aConnectNobodyWaitsForLeavesNoOutcomeBehind() async throws {
    try await self.withUnansweredPort { port in
      let client = try TallyClient(
        configuration: ClientConfiguration(
          host: "127.0.0.1", port: port, security: .plaintext, apiKey: "tly_unused",
          connectTimeout: .milliseconds(300), maxAttempts: 3))
      let gaveUp = await #expect(throws: RPCError.self) {
        try await client.unary(
          SystemMethods.ping, Tally_V1_PingRequest(), options: CallOptions(timeout: .milliseconds(50)))
      }
      #expect(gaveUp?.code == .deadlineExceeded)
      // The connect times out meanwhile, unwatched: the slot lets it go (it kept it for ever).
      let deadline = ContinuousClock.now + .seconds(20)
      while client.isConnecting && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
      #expect(!client.isConnecting, "the slot kept the connect nobody waited for")
      let error = await #expect(throws: RPCError.self) {
        try await client.unary(SystemMethods.ping, Tally_V1_PingRequest())
      }
      #expect(error?.code == .unavailable, "\(String(describing: error))")
      await client.close()
    }
  }

  /// Nothing listens: every attempt is refused before anything was sent, so each waits its
  /// back-off (100–200, then 200–400 ms) before the next, and the last refusal is the answer.
  @Test func aRefusedConnectIsTriedAgainAfterItsBackoff() async throws {
    // A port below Linux's ephemeral range (32768 and up), free a moment ago: a port the kernel
    // chose would soon be another test's server's, and the connect would reach that server.
    var port = 0
    for candidate in (0..<50).map({ _ in Int.random(in: 20_000..<32_000) }) {
      guard
        let listener = try? await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
          .bind(host: "127.0.0.1", port: candidate).get()
      else { continue }
      try await listener.close()
      port = candidate
      break
    }
    try #require(port != 0, "no free port below the ephemeral range")
    let client = try self.client(port: port, backoff: .milliseconds(200))
    let started = ContinuousClock.now
    let error = await #expect(throws: RPCError.self) {
      try await client.unary(SystemMethods.ping, Tally_V1_PingRequest())
    }
    #expect(
      error?.code == .unavailable && error?.message.contains("could not connect") == true,
      "\(String(reflecting: error))")
    #expect(error?.message.contains("connection refused: nothing listens on 127.0.0.1:\(port)") == true)
    #expect(error?.message.contains("errno") == false, "\(String(describing: error))")
    #expect(ContinuousClock.now - started >= .milliseconds(300), "three attempts, two back-offs")
    await client.close()
  }

  /// close() returns at once while a connect is pending, where it waited out the connect timeout.
  @Test func closeDoesNotWaitForAPendingConnect() async throws {
    try await self.withUnansweredPort { port in
      let client = try TallyClient(
        configuration: ClientConfiguration(
          host: "127.0.0.1", port: port, security: .plaintext, apiKey: "tly_unused", connectTimeout: .seconds(30),
          maxAttempts: 1))
      let call = Task { try await client.unary(SystemMethods.ping, Tally_V1_PingRequest()) }
      let deadline = ContinuousClock.now + .seconds(30)
      while !client.isConnecting && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
      #expect(client.isConnecting)
      let started = ContinuousClock.now
      await client.close()
      #expect(ContinuousClock.now - started < .seconds(10), "not the 30 s connect timeout")
      await #expect(throws: RPCError.self) { try await call.value }
    }
  }

  /// Every connection asks its kernel for keepalive probes after 30 s of silence, so that a call
  /// without a timeout to a server host that vanished without FIN or RST fails in about a minute.
  @Test func connectionsProbeAPeerThatFallsSilent() async throws {
    let listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
      .bind(host: "127.0.0.1", port: 0).get()
    let port = try #require(listener.localAddress?.port)
    // The listener never answers HELLO: a handshake timeout far off, so that a loaded machine's
    // pause between connecting and reading the options does not see the channel closed (3 s did).
    let client = try self.client(port: port, connectTimeout: .seconds(60))
    let channel = try await client.connection().channel
    let keepalive = try await channel.getOption(.socketOption(.so_keepalive)).get()
    var tcp: [Int] = []
    for name in [TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT] {
      tcp.append(try await channel.getOption(TallyClient.tcpOption(name)).get())
    }
    #expect(keepalive != 0)
    #expect(tcp == [30, 10, 3])
    await client.close()
    try await listener.close()
  }

  /// What answers the port is not TLS (here: a line of HTTP): the message says so, in words.
  @Test func aServerThatDoesNotSpeakTLSIsNamedSo() async throws {
    let listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
      .childChannelInitializer { channel in
        channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(HTTPRefusal()) }
      }
      .bind(host: "127.0.0.1", port: 0).get()
    let port = try #require(listener.localAddress?.port)
    let client = try TallyClient(
      configuration: ClientConfiguration(
        host: "127.0.0.1", port: port, apiKey: "tly_unused_x", connectTimeout: .seconds(3), maxAttempts: 1))
    let error = await #expect(throws: RPCError.self) {
      try await client.unary(SystemMethods.ping, Tally_V1_PingRequest())
    }
    #expect(error?.message.contains("does not speak TLS") == true, "\(String(reflecting: error))")
    #expect(error?.message.contains("max_handshakes_per_address") == false)
    await client.close()
    try await listener.close()
  }
}

/// Answers whatever arrives with a line of HTTP, as a web server on the wrong port would.
private final class HTTPRefusal: ChannelInboundHandler {
  typealias InboundIn = ByteBuffer
  typealias OutboundOut = ByteBuffer

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    context.writeAndFlush(self.wrapOutboundOut(ByteBuffer(string: "HTTP/1.1 400 Bad Request\r\n\r\n")), promise: nil)
  }
}
