import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization
import TallyClient
import TallyCore
import TallyProto
import TallyTestSupport
import TallyWire
import Testing

@testable import TallyServer

/// What `ServerMetrics` counts, read from its exposition and through `MetricsEndpoint` on loopback.
@Suite struct MetricsTests {
  @Test func callsAreCountedByMethodAndStatusCode() async throws {
    try await TestServer.with { server, _ in
      let client = try server.client()
      for _ in 0..<3 { _ = try await client.unary(SystemMethods.ping, Tally_V1_PingRequest()) }
      _ = await expectStatus(.internalError) { try await client.unary(crashMethod, Tally_V1_PingRequest()) }
      let reader = try server.client(apiKey: TestKeys.readerKey)
      _ = await expectStatus(.permissionDenied) { try await reader.unary(writeOnlyMethod, Tally_V1_PingRequest()) }
      await reader.close()

      let text = server.metricsText()
      #expect(text.contains(#"tally_calls_total{method="tally.v1.SystemService/Ping",code="OK"} 3"#), "\(text)")
      #expect(text.contains(#"tally_call_duration_seconds_count{method="tally.v1.SystemService/Ping"} 3"#))
      #expect(text.contains(#"tally_calls_total{method="tally.test.Probe/Crash",code="INTERNAL"} 1"#))
      // Refused before it ran: counted, with no duration.
      #expect(text.contains(#"tally_calls_total{method="tally.test.Probe/Write",code="PERMISSION_DENIED"} 1"#))
      #expect(text.contains(#"tally_call_duration_seconds_count{method="tally.test.Probe/Write"} 0"#))
      // A method shows only the codes it answered.
      #expect(!text.contains(#"tally_calls_total{method="tally.v1.SystemService/Ping",code="INTERNAL"}"#))
      await client.close()
    }
  }

  /// Made-up method names share one series: a client cannot grow the server's memory or the
  /// scrape with names of its own.
  @Test func unknownMethodsShareOneSeries() async throws {
    try await TestServer.with { server, _ in
      let client = try server.client()
      for name in ["tally.v1.Nowhere/First", "tally.v1.Nowhere/Second"] {
        let method = MethodDescriptor<Tally_V1_PingRequest, Tally_V1_PingResponse>(name, .unary)
        _ = await expectStatus(.unimplemented) { try await client.unary(method, Tally_V1_PingRequest()) }
      }
      let text = server.metricsText()
      #expect(text.contains(#"tally_calls_total{method="unknown",code="UNIMPLEMENTED"} 2"#), "\(text)")
      #expect(!text.contains("Nowhere"))
      await client.close()
    }
  }

  /// The calls' tenant and key are not in any series.
  @Test func noSeriesNamesATenantOrAKey() async throws {
    try await TestServer.with { server, _ in
      let reader = try server.client(apiKey: TestKeys.readerKey)
      let answer = try await reader.unary(whoAmIMethod, Tally_V1_PingRequest())
      #expect(String(decoding: answer.payload, as: UTF8.self) == "tenant-a")
      let text = server.metricsText()
      #expect(text.contains(#"tally_calls_total{method="tally.test.Probe/WhoAmI",code="OK"} 1"#))
      for secret in ["tenant-a", "reader", "r3ad"] { #expect(!text.contains(secret), "\(secret) in \(text)") }
      await reader.close()
    }
  }

  @Test func connectionsAndRefusedHellosAreCounted() async throws {
    try await TestServer.with { server, _ in
      let client = try server.client()
      _ = try await client.unary(SystemMethods.ping, Tally_V1_PingRequest())
      #expect(server.metricsText().contains("tally_connections_open 1.0\n"))
      let stranger = try server.client(apiKey: "tly_nobody_n0body")
      _ = await expectStatus(.unauthenticated) { try await stranger.unary(SystemMethods.ping, Tally_V1_PingRequest()) }
      await stranger.close()
      await client.close()
      let closed = try await waitUntil { server.metricsText().contains("tally_connections_open 0.0\n") }
      #expect(closed, "\(server.metricsText())")
      let text = server.metricsText()
      #expect(text.contains("tally_connections_accepted_total 2\n"), "\(text)")
      #expect(text.contains("tally_hellos_refused_total 1\n"), "\(text)")
    }
  }

  /// Each way the connection ends a call is counted once: refused past `maxConcurrentStreams`,
  /// past its deadline, cancelled by the client, and cut off by the connection's close.
  @Test func callsTheConnectionEndsAreCountedOnce() async throws {
    try await TestServer.with(limits: ServerLimits(maxConcurrentStreams: 2)) { server, _ in
      let connection = try await RawConnection(port: server.port)
      try await connection.handshake()
      #expect(await connection.nextFrame()?.type == .welcome)
      // One write, read at once: stream 3 is refused before stream 2's deadline can free its place.
      var calls = ByteBuffer()
      for (id, timeout) in [(UInt32(1), UInt64(0)), (2, 100), (3, 0)] {
        let header = try callHeader("tally.test.Probe/Block", timeoutMs: timeout).encodedBytes()
        calls.writeFrame(.call, streamID: id, payload: header)
      }
      try await connection.send(Array(calls.readableBytesView))
      #expect(await connection.nextStatus()?.1.code == .resourceExhausted)
      #expect(await connection.nextStatus()?.1.code == .deadlineExceeded)
      var cancel = ByteBuffer()
      cancel.writeFrame(.cancel, streamID: 1, payload: EmptyCollection())
      try await connection.send(Array(cancel.readableBytesView))
      #expect(await connection.nextStatus()?.1.code == .cancelled)
      try await connection.send(.call, streamID: 4, callHeader("tally.test.Probe/Block"))
      try await connection.send(.message, flags: .endStream, streamID: 4, Tally_V1_PingRequest())
      #expect(try await server.probe.waitFor { $0.started == 1 })
      await connection.close()

      let block = #"{method="tally.test.Probe/Block""#
      let closed = try await waitUntil {
        server.metricsText().contains("tally_calls_total\(block),code=\"CANCELLED\"} 2\n")
      }
      let text = server.metricsText()
      #expect(closed, "\(text)")
      #expect(text.contains("tally_calls_total\(block),code=\"RESOURCE_EXHAUSTED\"} 1\n"))
      #expect(text.contains("tally_calls_total\(block),code=\"DEADLINE_EXCEEDED\"} 1\n"))
      #expect(text.contains("tally_call_duration_seconds_count\(block)} 3\n"), "\(text)")
    }
  }

  @Test func callsOverTheTenantsRateAreCounted() async throws {
    try await TestServer.with(limits: ServerLimits(tenantCallsPerSecond: 1, tenantCallBurst: 1)) { server, _ in
      var configuration = server.clientConfiguration(apiKey: TestKeys.readerKey)
      configuration.maxRateLimitWait = .zero
      let reader = try TallyClient(configuration: configuration)
      let (admitted, refusal, _) = try await pingUntilRefused(reader)
      #expect(refusal?.code == .resourceExhausted)
      let text = server.metricsText()
      #expect(text.contains(#"tally_calls_total{method="tally.v1.SystemService/Ping",code="OK"} \#(admitted)"#))
      #expect(text.contains(#"tally_calls_total{method="tally.v1.SystemService/Ping",code="RESOURCE_EXHAUSTED"} 1"#))
      #expect(text.contains(#"tally_call_duration_seconds_count{method="tally.v1.SystemService/Ping"} \#(admitted)"#))
      await reader.close()
    }
  }

  /// A real scrape over loopback HTTP: the metrics at GET /metrics, and a clear error elsewhere.
  /// Past `maxConnections`, a connection is closed at once; a freed place serves again.
  @Test func endpointHoldsAtMostItsConnections() async throws {
    var logger = Logger(label: "tally-test-metrics")
    logger.logLevel = .critical
    let endpoint = MetricsEndpoint(
      configuration: .init(host: "127.0.0.1", port: 0, maxConnections: 1),
      metrics: ServerMetrics(methodNames: []), logger: logger)
    let group = ServiceGroup(services: [endpoint], logger: logger)
    try await withThrowingTaskGroup(of: Void.self) { tasks in
      tasks.addTask { try await group.run() }
      let port = try await endpoint.localAddress.port!
      let held = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .connect(host: "127.0.0.1", port: port) { channel in
          channel.eventLoop.makeCompletedFuture {
            try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
          }
        }
      try await held.executeThenClose { inbound, outbound in
        // A kept-alive scrape answered: the endpoint holds this connection (a fixed sleep for the
        // accept was too short on a loaded machine, and the next connection took the place).
        try await outbound.write(ByteBuffer(string: "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"))
        var answers = inbound.makeAsyncIterator()
        let first = try await answers.next().map { String(buffer: $0) } ?? ""
        #expect(first.hasPrefix("HTTP/1.1 200 OK"), "\(first)")
        // Closed before it is read: the client sees the close, or a reset.
        let refused = (try? await httpExchange(port: port, "GET /metrics HTTP/1.0\r\n\r\n")) ?? ""
        #expect(refused.isEmpty, "\(refused)")
      }
      var answer = ""
      for _ in 0..<100 where !answer.hasPrefix("HTTP/1.0 200 OK") {
        // Until the endpoint has seen the held connection close, this one is reset like the last.
        answer = (try? await httpExchange(port: port, "GET /metrics HTTP/1.0\r\n\r\n")) ?? ""
        if !answer.hasPrefix("HTTP/1.0 200 OK") { try await Task.sleep(for: .milliseconds(20)) }
      }
      #expect(answer.hasPrefix("HTTP/1.0 200 OK"), "\(answer)")
      await group.triggerGracefulShutdown()
      try await tasks.waitForAll()
    }
  }

  /// A peer that sends scrape after scrape and reads no answer gets its connection closed once
  /// the answers back up, rather than every answer queued in the server's memory for as long as
  /// it stays. Seen from a second connection: the endpoint holds one, so the second is answered
  /// once the first is closed.
  @Test func aPeerThatDoesNotReadItsAnswersIsClosed() async throws {
    var logger = Logger(label: "tally-test-metrics")
    logger.logLevel = .critical
    let endpoint = MetricsEndpoint(
      configuration: .init(host: "127.0.0.1", port: 0, requestTimeout: .seconds(120), maxConnections: 1),
      metrics: ServerMetrics(methodNames: []), logger: logger)
    let group = ServiceGroup(services: [endpoint], logger: logger)
    try await withThrowingTaskGroup(of: Void.self) { tasks in
      tasks.addTask { try await group.run() }
      let port = try await endpoint.localAddress.port!
      let silent = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .channelOption(.socketOption(.so_rcvbuf), value: 4_096)
        .connect(host: "127.0.0.1", port: port) { channel in
          channel.eventLoop.makeCompletedFuture {
            try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
          }
        }
      try await silent.executeThenClose { _, outbound in
        let one = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
        try await outbound.write(ByteBuffer(string: String(repeating: one, count: 20_000)))
        var answer = ""
        let started = ContinuousClock.now
        while !answer.hasPrefix("HTTP/1.0 200 OK"), ContinuousClock.now - started < .seconds(30) {
          try await Task.sleep(for: .milliseconds(100))
          answer = (try? await httpExchange(port: port, "GET /metrics HTTP/1.0\r\n\r\n")) ?? ""
        }
        #expect(answer.hasPrefix("HTTP/1.0 200 OK"), "the connection that reads nothing was never closed")
      }
      await group.triggerGracefulShutdown()
      try await tasks.waitForAll()
    }
  }

  @Test func endpointServesTheMetricsOverHTTP() async throws {
    try await TestServer.with { server, _ in
      let client = try server.client()
      _ = try await client.unary(SystemMethods.ping, Tally_V1_PingRequest())
      await client.close()
      var logger = Logger(label: "tally-test-metrics")
      logger.logLevel = .critical
      let scrapes = ScrapeCounter()
      // Each exchange's connection is closed unanswered if the client has not written within the
      // request timeout: long enough that a loaded machine's scheduling cannot cause that.
      let endpoint = MetricsEndpoint(
        configuration: .init(host: "127.0.0.1", port: 0, requestTimeout: .seconds(5)),
        metrics: server.server.metrics, logger: logger
      ) { scrapes.add() }
      let group = ServiceGroup(services: [endpoint], logger: logger)
      try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        let port = try await endpoint.localAddress.port!

        let scrape = try await httpExchange(port: port, "GET /metrics HTTP/1.0\r\n\r\n")
        #expect(scrape.hasPrefix("HTTP/1.0 200 OK\r\n"), "\(scrape)")
        #expect(scrape.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"))
        #expect(scrape.contains(#"tally_calls_total{method="tally.v1.SystemService/Ping",code="OK"} 1"#))
        #expect(scrape.contains("# HELP tally_calls_total "))
        #expect(scrapes.count == 1)

        let missing = try await httpExchange(port: port, "GET /other HTTP/1.0\r\n\r\n")
        #expect(missing.hasPrefix("HTTP/1.0 404 Not Found\r\n"), "\(missing)")
        #expect(missing.contains("the metrics are at GET /metrics"))

        // Answered at its head, the connection closed at once: the body is never read.
        let post = try await httpExchange(
          port: port, "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
        #expect(post.hasPrefix("HTTP/1.1 405 Method Not Allowed\r\n"), "\(post)")
        #expect(post.contains("Allow: GET, HEAD\r\n"))
        #expect(post.contains("Connection: close\r\n"))

        // Two scrapes on one kept-alive connection, as Prometheus does.
        let twice = try await httpExchange(
          port: port,
          "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\nGET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        #expect(twice.components(separatedBy: "HTTP/1.1 200 OK\r\n").count == 3, "\(twice)")
        #expect(scrapes.count == 3)

        // A head that never ends does not hold the connection past the request timeout.
        let started = ContinuousClock.now
        let trickle = try await httpExchange(port: port, "GET /metr")
        #expect(trickle.isEmpty)
        #expect(ContinuousClock.now - started < .seconds(15))

        await group.triggerGracefulShutdown()
        try await tasks.waitForAll()
      }
    }
  }
}

/// The duration buckets' bounds hold their own value, as Prometheus's `le` does.
@Test func durationBucketsIncludeTheirBound() {
  #expect(MethodMetrics.bucket(of: 0) == 0)
  #expect(MethodMetrics.bucket(of: 100_000) == 0)
  #expect(MethodMetrics.bucket(of: 100_001) == 1)
  #expect(MethodMetrics.bucket(of: 1_000_000_000) == 12)
  #expect(MethodMetrics.bucketBounds[12].label == "1")
  #expect(MethodMetrics.bucket(of: 30_000_000_000) == 16)
  #expect(MethodMetrics.bucket(of: 30_000_000_001) == MethodMetrics.bucketBounds.count)
}

/// Cumulative buckets, the sum in seconds, and the count, as a scrape reads them.
@Test func histogramIsWrittenCumulativelyInSeconds() {
  let metrics = ServerMetrics(methodNames: ["tally.v1.A/B"])
  let method = metrics.method(named: "tally.v1.A/B")
  method.ended(.ok, after: .microseconds(50))
  method.ended(.ok, after: .milliseconds(3))
  method.ended(.deadlineExceeded, after: .seconds(40))
  let text = String(decoding: metrics.exposition(), as: UTF8.self)
  for line in [
    #"tally_calls_total{method="tally.v1.A/B",code="OK"} 2"#,
    #"tally_calls_total{method="tally.v1.A/B",code="DEADLINE_EXCEEDED"} 1"#,
    #"tally_call_duration_seconds_bucket{method="tally.v1.A/B",le="0.0001"} 1"#,
    #"tally_call_duration_seconds_bucket{method="tally.v1.A/B",le="0.0025"} 1"#,
    #"tally_call_duration_seconds_bucket{method="tally.v1.A/B",le="0.005"} 2"#,
    #"tally_call_duration_seconds_bucket{method="tally.v1.A/B",le="30"} 2"#,
    #"tally_call_duration_seconds_bucket{method="tally.v1.A/B",le="+Inf"} 3"#,
    #"tally_call_duration_seconds_sum{method="tally.v1.A/B"} 40.00305"#,
    #"tally_call_duration_seconds_count{method="tally.v1.A/B"} 3"#,
  ] {
    #expect(text.contains(line + "\n"), "\(line) not in \(text)")
  }
  // A method without calls has no series yet.
  #expect(!text.contains(#"method="unknown""#))
}

/// A metrics port already taken stops the server beside it at once, instead of leaving it serving
/// (or waiting) in a group that is being cancelled.
@Test func aMetricsPortTakenStopsTheServerBesideIt() async throws {
  try await TestServer.with { taken, _ in
    var logger = Logger(label: "tally-test-metrics")
    logger.logLevel = .critical
    let server = TallyServer(
      configuration: ServerConfiguration(
        host: "127.0.0.1", port: 0,
        tls: .init(
          certificateChainPath: testCertificates.serverCertificatePath, privateKeyPath: testCertificates.serverKeyPath)),
      router: TestServer.router(limits: ServerLimits(), probe: Probe()), authenticator: TestKeys.authenticator,
      logger: logger)
    let endpoint = MetricsEndpoint(configuration: .init(port: taken.port), metrics: server.metrics, logger: logger)
    let group = ServiceGroup(services: [endpoint, server], logger: logger)
    let outcome = Outcome()
    let run = Task {
      do {
        try await group.run()
        outcome.value.withLock { $0 = "returned" }
      } catch {
        outcome.value.withLock { $0 = "threw" }
      }
    }
    // Not awaited past 20 s: a server that ignores the group's cancellation would hang the test.
    let ended = try await waitUntil(timeout: .seconds(20)) { outcome.value.withLock { $0 != nil } }
    if !ended {
      run.cancel()
      await group.triggerGracefulShutdown()
    }
    #expect(outcome.value.withLock { $0 } == "threw")
  }
}

extension TestServer {
  func metricsText() -> String { String(decoding: self.server.metrics.exposition(), as: UTF8.self) }
}

private final class Outcome: Sendable {
  let value = Mutex<String?>(nil)
}

private final class ScrapeCounter: Sendable {
  private let value = Mutex(0)
  var count: Int { self.value.withLock { $0 } }
  func add() { self.value.withLock { $0 += 1 } }
}

/// Sends `request` as it is on a new TCP connection and returns all it reads until the server closes.
private func httpExchange(port: Int, _ request: String) async throws -> String {
  let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
    .connect(host: "127.0.0.1", port: port) { channel in
      channel.eventLoop.makeCompletedFuture {
        try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
      }
    }
  return try await channel.executeThenClose { inbound, outbound in
    try await outbound.write(ByteBuffer(string: request))
    var received = ""
    for try await buffer in inbound { received += String(buffer: buffer) }
    return received
  }
}
