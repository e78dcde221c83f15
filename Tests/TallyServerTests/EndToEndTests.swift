import Foundation
import NIOConcurrencyHelpers
import NIOCore
import ServiceLifecycle
import SwiftProtobuf
import TallyClient
import TallyCore
import TallyProto
import TallyTestSupport
import TallyWire
import Testing

import struct Foundation.Data

/// Client and server over real TLS on loopback.
@Suite struct EndToEndTests {
  private func ping(_ payload: [UInt8], delayMs: UInt32 = 0) -> Tally_V1_PingRequest {
    var request = Tally_V1_PingRequest()
    request.payload = Data(payload)
    request.delayMs = delayMs
    return request
  }

  @Test func unaryPingEchoesThePayload() async throws {
    try await TestServer.with { server, _ in
      let client = try server.client()
      let response = try await client.unary(SystemMethods.ping, self.ping(Array("hello".utf8)))
      #expect(response.payload == Data("hello".utf8))
      let tooSlow = await expectStatus(.invalidArgument) {
        try await client.unary(SystemMethods.ping, self.ping([], delayMs: SystemService.maxPingDelayMilliseconds + 1))
      }
      #expect(tooSlow?.fieldViolations.first?.field == "delay_ms")
      let welcome = try await client.welcome()
      #expect(welcome.principal.keyID == "operator")
      #expect(welcome.principal.operator)
      #expect(welcome.maxConcurrentStreams == 100)
      await client.close()
    }
  }

  /// A call still running when close() stops waiting for it fails as closed by the client, not as a
  /// lost connection, and is not sent again on a new one.
  @Test func aCallCutOffByCloseSaysTheClientClosedIt() async throws {
    try await TestServer.with { server, _ in
      let client = try server.client()
      _ = try await client.welcome()
      let slow = Task { try await client.unary(blockMethod, self.ping([])) }
      // Sent and running (a sleep let close() come first under load: the call then went on a new connection).
      #expect(try await server.probe.waitFor { $0.started == 1 }, "the call never started")
      let started = ContinuousClock.now
      await client.close(drainLimit: .milliseconds(100))
      let error = await expectStatus(.unavailable) { try await slow.value }
      #expect(
        error?.message == "the client closed its connection to 127.0.0.1:\(server.port)", "\(String(describing: error))"
      )
      // Sent again, the call would block for a minute, and start a second time.
      #expect(ContinuousClock.now - started < .seconds(20), "sent again instead of failing")
      #expect(server.probe.started == 1, "sent again on a new connection")
    }
  }

  @Test func pingEchoesAPayloadUpToTheFrameLimit() async throws {
    try await TestServer.with { server, _ in
      let client = try server.client()
      // A PingRequest adds 1 tag byte and a 4-byte length to its payload.
      let payload = [UInt8](repeating: 0x5A, count: Frame.defaultMaxPayload - 5)
      let response = try await client.unary(SystemMethods.ping, self.ping(payload))
      #expect(response.payload.count == payload.count)
      let error = await expectStatus(.resourceExhausted) {
        try await client.unary(SystemMethods.ping, self.ping(payload + [1]))
      }
      #expect(error?.message.contains("max_frame_payload") == true)
      await client.close()
    }
  }

  @Test func serverInfoReportsVersionAndLimits() async throws {
    try await TestServer.with(limits: ServerLimits(maxConcurrentStreams: 7)) { server, _ in
      let client = try server.client()
      let info = try await client.unary(SystemMethods.serverInfo, Tally_V1_ServerInfoRequest())
      #expect(info.serverVersion == tallyServerVersion)
      #expect(info.protocolVersion == 1)
      #expect(info.limits.maxConcurrentStreams == 7)
      #expect(info.limits.maxFramePayload == UInt32(Frame.defaultMaxPayload))
      await client.close()
    }
  }

  @Test func serverStreamingCountSendsNMessagesInOrder() async throws {
    try await TestServer.with { server, _ in
      let client = try server.client()
      var request = Tally_V1_CountRequest()
      request.n = 2_500
      let numbers = try await client.serverStreaming(SystemMethods.count, request) { responses in
        var numbers: [UInt32] = []
        for try await response in responses { numbers.append(response.number) }
        return numbers
      }
      #expect(numbers == Array(1...2_500))
      request.n = 2_000_000
      let error = await expectStatus(.invalidArgument) {
        try await client.serverStreaming(SystemMethods.count, request) { responses in
          for try await _ in responses {}
        }
      }
      #expect(error?.fieldViolations.first?.field == "n")
      await client.close()
    }
  }

  /// A caller that reads slowly holds the connection's reads back at 16 unread responses (TCP
  /// then holds the server back) and gets every response in order; the connection reads again.
  @Test func aSlowReaderOfAServerStreamGetsEveryResponse() async throws {
    try await TestServer.with { server, _ in
      let client = try server.client()
      var request = Tally_V1_CountRequest()
      request.n = 2_000
      let numbers = try await client.serverStreaming(
        SystemMethods.count, request, options: CallOptions(timeout: .seconds(30))
      ) { responses in
        var numbers: [UInt32] = []
        try await Task.sleep(for: .milliseconds(300))
        for try await response in responses {
          numbers.append(response.number)
          if response.number % 500 == 0 { try await Task.sleep(for: .milliseconds(50)) }
        }
        return numbers
      }
      #expect(numbers == Array(1...2_000))
      let pong = try await client.unary(SystemMethods.ping, self.ping([7]), options: CallOptions(timeout: .seconds(10)))
      #expect(pong.payload == Data([7]))
      await client.close()
    }
  }

  /// A call's responses are read once: a second reading throws, where it used to trap.
  /// A server stream is sent again only when the call itself was refused before any response: a
  /// rate refusal thrown by the body (a nested call's) ran the body again, and its writes twice.
  @Test func aServerStreamsBodyIsNotRunAgainForItsOwnErrors() async throws {
    try await TestServer.with { server, _ in
      let client = try server.client()
      var request = Tally_V1_CountRequest()
      request.n = 3
      let runs = NIOLockedValueBox(0)
      for readFirst in [true, false] {
        runs.withLockedValue { $0 = 0 }
        let error = await expectStatus(.resourceExhausted) {
          try await client.serverStreaming(SystemMethods.count, request) { responses in
            runs.withLockedValue { $0 += 1 }
            if readFirst { for try await _ in responses { break } }
            throw RPCError(code: .resourceExhausted, message: "a nested call's refusal", retryAfter: .milliseconds(10))
          }
        }
        #expect(error?.message == "a nested call's refusal")
        #expect(runs.withLockedValue { $0 } == 1, "the body ran again (read first: \(readFirst))")
      }
      // A task cancelled before its call sends nothing.
      let cancelled = Task {
        withUnsafeCurrentTask { $0?.cancel() }
        return try await client.unary(SystemMethods.ping, Tally_V1_PingRequest())
      }
      let refusal = await expectStatus(.cancelled) { _ = try await cancelled.value }
      #expect(refusal?.message.contains("before it was sent") == true)
      await client.close()
    }
  }

  @Test func aResponseStreamReadTwiceThrows() async throws {
    try await TestServer.with { server, _ in
      let client = try server.client()
      var request = Tally_V1_CountRequest()
      request.n = 3
      try await client.serverStreaming(SystemMethods.count, request) { responses in
        var count = 0
        for try await _ in responses { count += 1 }
        #expect(count == 3)
        let again = await expectStatus(.failedPrecondition) { for try await _ in responses {} }
        #expect(again?.message.contains("read once") == true)
      }
      await client.close()
    }
  }

  @Test func clientStreamingSumAddsEveryNumber() async throws {
    try await TestServer.with { server, _ in
      let client = try server.client()
      let response = try await client.clientStreaming(SystemMethods.sum) { writer in
        for batch in 0..<200 {
          var request = Tally_V1_SumRequest()
          request.numbers = (0..<50).map { Int64(batch * 50 + $0) }
          try await writer.send(request)
        }
      }
      #expect(response.sum == (0..<10_000).reduce(0, +))
      #expect(response.count == 10_000)
      #expect(response.messages == 200)

      let overflow = await expectStatus(.outOfRange) {
        try await client.clientStreaming(SystemMethods.sum) { writer in
          var request = Tally_V1_SumRequest()
          request.numbers = [Int64.max, 1]
          try await writer.send(request)
        }
      }
      #expect(overflow?.message.contains("64-bit") == true)

      // A message holds at most 100,000 numbers, counted before they are decoded.
      for count in [SystemService.maxSumNumbers, SystemService.maxSumNumbers + 1] {
        let sent = { @Sendable in
          try await client.clientStreaming(SystemMethods.sum) { writer in
            var request = Tally_V1_SumRequest()
            request.numbers = Array(repeating: 1, count: count)
            try await writer.send(request)
          }
        }
        if count == SystemService.maxSumNumbers {
          #expect(try await sent().count == UInt64(count))
        } else {
          let tooMany = await expectStatus(.invalidArgument) { try await sent() }
          #expect(tooMany?.fieldViolations.first?.field == "numbers", "\(String(describing: tooMany))")
        }
      }
      await client.close()
    }
  }

  @Test func thousandConcurrentCallsOnOneConnection() async throws {
    try await TestServer.with { server, _ in
      let client = try server.client()
      try await withThrowingTaskGroup(of: Void.self) { group in
        for index in 0..<1_000 {
          group.addTask {
            let payload = Array("call \(index)".utf8)
            let response = try await client.unary(SystemMethods.ping, self.ping(payload, delayMs: 5))
            #expect(response.payload == Data(payload))
          }
        }
        try await group.waitForAll()
      }
      await client.close()
    }
  }

  /// Tasks that prefer the connection's executor make their calls, and resume after each, on the
  /// loop that carries the connection's frames: no hop to Swift's global pool per call.
  @Test func callsFromTheConnectionExecutorResumeOnTheConnectionsLoop() async throws {
    try await TestServer.with { server, _ in
      let client = try server.client()
      #expect(client.connectionExecutor == nil)
      _ = try await client.welcome()
      let executor = try #require(client.connectionExecutor as? EventLoopTaskExecutor)
      try await withThrowingTaskGroup(of: Void.self) { group in
        for index in 0..<64 {
          group.addTask(executorPreference: executor) {
            #expect(executor.eventLoop.inEventLoop)
            let payload = Array("call \(index)".utf8)
            let response = try await client.unary(SystemMethods.ping, self.ping(payload))
            #expect(response.payload == Data(payload))
            #expect(executor.eventLoop.inEventLoop)
          }
        }
        try await group.waitForAll()
      }
      await client.close()
      #expect(client.connectionExecutor == nil)
    }
  }

  @Test func deadlineExceededStopsTheCall() async throws {
    try await TestServer.with { server, _ in
      let client = try server.client()
      // Connected first: on a loaded machine the TLS handshake alone can outlast the 200 ms, and
      // the call then ends in the client before the server ever starts it.
      _ = try await client.welcome()
      let started = ContinuousClock.now
      _ = await expectStatus(.deadlineExceeded) {
        try await client.unary(blockMethod, self.ping([]), options: CallOptions(timeout: .milliseconds(200)))
      }
      #expect(ContinuousClock.now - started < .seconds(5))
      #expect(try await server.probe.waitFor { $0.cancelled == 1 }, "the handler was not cancelled")
      // The connection still serves calls.
      _ = try await client.unary(SystemMethods.ping, self.ping([1]))
      await client.close()
    }
  }

  @Test func cancellingTheCallingTaskCancelsTheHandler() async throws {
    try await TestServer.with { server, _ in
      let client = try server.client()
      let call = Task { try await client.unary(blockMethod, self.ping([])) }
      #expect(try await server.probe.waitFor { $0.started == 1 })
      call.cancel()
      let result = await call.result
      guard case .failure(let error as RPCError) = result else {
        Issue.record("expected CANCELLED, got \(result)")
        return
      }
      #expect(error.code == .cancelled)
      #expect(try await server.probe.waitFor { $0.cancelled == 1 }, "the server never stopped the handler")
      _ = try await client.unary(SystemMethods.ping, self.ping([2]))
      await client.close()
    }
  }

  /// A burst of calls on a new connection, before its WELCOME, to a server allowing two streams:
  /// the calls beyond the first wait for WELCOME, then for free streams, and none is refused.
  /// (Slow calls: a ping ends within the read that carried it, so pings never fill two streams.)
  @Test func aBurstBeforeWelcomeKeepsUnderTheServersStreams() async throws {
    /// A key check of 300 ms: the calls are surely made before WELCOME.
    struct SlowAuthenticator: Authenticator {
      func authenticate(apiKey: String) async throws -> Principal {
        try await Task.sleep(for: .milliseconds(300))
        return try await TestKeys.authenticator.authenticate(apiKey: apiKey)
      }
    }
    try await TestServer.with(limits: ServerLimits(maxConcurrentStreams: 2), authenticator: SlowAuthenticator()) {
      server, _ in
      let client = try server.client()
      try await withThrowingTaskGroup(of: Tally_V1_PingResponse.self) { group in
        for index in 0..<6 {
          group.addTask { try await client.unary(slowEchoMethod, self.ping([UInt8(index)])) }
        }
        var answered = 0
        for try await _ in group { answered += 1 }
        #expect(answered == 6)
      }
      await client.close()
    }
  }

  /// `close()` says GOAWAY and lets the call in flight have its answer before the connection ends.
  @Test func closingTheClientLetsTheCallsInFlightFinish() async throws {
    try await TestServer.with { server, _ in
      let client = try server.client()
      _ = try await client.welcome()
      let call = Task { try await client.unary(slowEchoMethod, self.ping([7])) }
      #expect(try await server.probe.waitFor(.seconds(30)) { $0.started == 1 }, "the call did not reach the server")
      await client.close()
      #expect(try await call.value.payload == Data([7]))
    }
  }

  /// A client stream waiting for one of the server's streams takes one message at a time from its
  /// caller: its `send` waits for the call to start, where every send returned at once and the
  /// client kept all of the messages in memory until a stream was free.
  @Test func aQueuedClientStreamHoldsOneMessageAtATime() async throws {
    try await TestServer.with(limits: ServerLimits(maxConcurrentStreams: 1)) { server, _ in
      let client = try server.client()
      _ = try await client.welcome()
      let busy = Task { try await client.unary(blockMethod, self.ping([0])) }
      #expect(try await server.probe.waitFor { $0.started == 1 }, "the call never started")  // it holds the one stream
      let clock = ContinuousClock()
      let sent = NIOLockedValueBox<[ContinuousClock.Instant]>([])
      let stream = Task {
        try await client.clientStreaming(countMethod) { writer in
          for index in 0..<4 {
            try await writer.send(self.ping([UInt8(index)]))
            sent.withLockedValue { $0.append(clock.now) }
          }
        }
      }
      // The first `send` only hands its message to the writer (which keeps the last one for
      // END_STREAM); the second queues it with the call and waits until the stream is free.
      #expect(try await waitUntil { sent.withLockedValue { $0.count } == 1 }, "the first send never returned")
      try await Task.sleep(for: .milliseconds(300))
      #expect(sent.withLockedValue { $0.count } == 1, "a second send returned while no stream was free")
      let freed = clock.now
      busy.cancel()
      _ = try? await busy.value
      let response = try await stream.value
      let sends = sent.withLockedValue { $0 }
      #expect(response.payload == Data("4".utf8))
      #expect(sends.count == 4 && sends[1] > freed, "\(sends.map { $0 - freed })")
      await client.close()
    }
  }

  /// A writer waiting for a socket the server no longer reads (its handler takes no message) stops
  /// when its call is cancelled: it waited until the server read again, a minute here.
  @Test func aCancelledClientStreamStopsWaitingForTheSocket() async throws {
    let stalled = MethodDescriptor<Tally_V1_PingRequest, Tally_V1_PingResponse>(
      "tally.test.Probe/Stalled", .clientStreaming)
    let services: (inout Router) -> Void = { router in
      router.clientStreaming(stalled, access: .anyKey) { requests, _ in
        try await Task.sleep(for: .seconds(60))
        for try await _ in requests {}
        return Tally_V1_PingResponse()
      }
    }
    try await TestServer.with(services: services) { server, _ in
      let client = try server.client()
      _ = try await client.welcome()
      let message = self.ping([UInt8](repeating: 1, count: 64 * 1024))
      let writing = Task {
        try await client.clientStreaming(stalled) { writer in
          while true { try await writer.send(message) }
        }
      }
      try await Task.sleep(for: .seconds(1))  // long enough to fill the sockets' buffers
      let cancelled = ContinuousClock.now
      writing.cancel()
      _ = await writing.result
      #expect(ContinuousClock.now - cancelled < .seconds(10), "the writer waited for the server to read")
      await client.close(drainLimit: .milliseconds(100))
    }
  }

  /// A client stream whose requests fail part-way (a CSV line that cannot be read, say) is
  /// cancelled on the server: its place under max_concurrent_streams is freed, so more such
  /// failures than there are places leave the client able to call.
  @Test func failedClientStreamsFreeTheirStreams() async throws {
    struct UnreadableLine: Error {}
    try await TestServer.with(limits: ServerLimits(maxConcurrentStreams: 2)) { server, _ in
      let client = try server.client()
      // After WELCOME the client knows its two places and queues calls beyond them.
      _ = try await client.welcome()
      for _ in 0..<3 {
        await #expect(throws: UnreadableLine.self) {
          try await client.clientStreaming(countMethod) { writer in
            try await writer.send(self.ping([1]))
            try await writer.send(self.ping([2]))
            throw UnreadableLine()
          }
        }
      }
      do {
        // Without a freed place it waits in the client's queue until its deadline.
        let response = try await client.clientStreaming(countMethod, options: CallOptions(timeout: .seconds(10))) {
          writer in
          try await writer.send(self.ping([3]))
        }
        #expect(response.payload == Data("1".utf8))
      } catch {
        Issue.record("the call after the failed streams failed: \(error)")
      }
      // Closed in any case: streams left open on the server would hold up its shutdown.
      await client.close()
    }
  }

  /// A client stream the server ends early (here: refused at its first message) stops its writer:
  /// the next `send` throws the call's error, so a caller stops producing the rest.
  @Test func aClientStreamTheServerEndedStopsItsWriter() async throws {
    let refuseFirst = MethodDescriptor<Tally_V1_PingRequest, Tally_V1_PingResponse>(
      "tally.test.Probe/RefuseFirst", .clientStreaming)
    let services: (inout Router) -> Void = { router in
      router.clientStreaming(refuseFirst, access: .anyKey) { requests, _ in
        for try await _ in requests { throw RPCError(code: .invalidArgument, message: "no, thank you") }
        return Tally_V1_PingResponse()
      }
    }
    try await TestServer.with(services: services) { server, _ in
      let client = try server.client()
      let sent = NIOLockedValueBox(0)
      let error = await expectStatus(.invalidArgument) {
        try await client.clientStreaming(refuseFirst) { writer in
          for index in 0..<10_000 {
            try await writer.send(self.ping([UInt8(index % 256)]))
            sent.withLockedValue { $0 += 1 }
            try await Task.sleep(for: .milliseconds(1))
          }
        }
      }
      #expect(error?.message == "no, thank you")
      #expect(sent.withLockedValue { $0 } < 10_000, "the writer went on after the call had ended")
      await client.close()
    }
  }

  /// A client stream the server answered before its last request: a send after that stops the
  /// writing and the call returns the answer, but an error of the caller's own is the caller's.
  @Test func aClientStreamAnsweredEarlyKeepsTheCallersOwnError() async throws {
    struct UnreadableFile: Error {}
    let answerAtOnce = MethodDescriptor<Tally_V1_PingRequest, Tally_V1_PingResponse>(
      "tally.test.Probe/AnswerAtOnce", .clientStreaming)
    let services: (inout Router) -> Void = { router in
      router.clientStreaming(answerAtOnce, access: .anyKey) { _, _ in Tally_V1_PingResponse() }
    }
    try await TestServer.with(services: services) { server, _ in
      let client = try server.client()
      let sent = NIOLockedValueBox(0)
      _ = try await client.clientStreaming(answerAtOnce) { writer in
        for index in 0..<10_000 {
          try await writer.send(self.ping([UInt8(index % 256)]))
          sent.withLockedValue { $0 += 1 }
          try await Task.sleep(for: .milliseconds(1))
        }
      }
      #expect(sent.withLockedValue { $0 } < 10_000, "the writer went on after the answer")
      await #expect(throws: UnreadableFile.self) {
        try await client.clientStreaming(answerAtOnce) { writer in
          try await writer.send(self.ping([1]))
          try await Task.sleep(for: .milliseconds(200))
          throw UnreadableFile()
        }
      }
      await client.close()
    }
  }

  /// A server stream its caller stops reading, by returning or by throwing, is cancelled on the
  /// server rather than left sending into a buffer nobody reads.
  @Test func aServerStreamLeftUnreadIsCancelled() async throws {
    struct StopReading: Error {}
    try await TestServer.with { server, _ in
      let client = try server.client()
      let first = try await client.serverStreaming(trickleMethod, self.ping([])) { responses in
        try await responses.first { _ in true }
      }
      #expect(first != nil)
      #expect(try await server.probe.waitFor(.seconds(10)) { $0.cancelled == 1 }, "the handler was not cancelled")
      await #expect(throws: StopReading.self) {
        try await client.serverStreaming(trickleMethod, self.ping([])) { _ in throw StopReading() }
      }
      #expect(try await server.probe.waitFor(.seconds(10)) { $0.cancelled == 2 }, "the handler was not cancelled")
      await client.close()
    }
  }

  @Test func unknownMethodIsUnimplemented() async throws {
    try await TestServer.with { server, _ in
      let client = try server.client()
      let method = MethodDescriptor<Tally_V1_PingRequest, Tally_V1_PingResponse>("tally.v1.Nope/Nothing", .unary)
      let error = await expectStatus(.unimplemented) { try await client.unary(method, self.ping([])) }
      #expect(error?.message.contains("tally.v1.Nope/Nothing") == true)
      await client.close()
    }
  }

  @Test func handlerErrorsBecomeInternalWithoutDetails() async throws {
    try await TestServer.with { server, _ in
      let client = try server.client()
      let error = await expectStatus(.internalError) {
        try await client.unary(crashMethod, self.ping([]), options: CallOptions(requestID: "req-42"))
      }
      #expect(error?.message == "internal error (request id req-42)")
      #expect(error?.message.contains("SELECT") == false)
      // Without one, the server makes one up from the connection and the stream (here the second).
      let madeUp = await expectStatus(.internalError) { try await client.unary(crashMethod, self.ping([])) }
      let id = madeUp?.message.wholeMatch(of: /internal error \(request id ([0-9a-f]+)\.2\)/)
      #expect(id != nil, "\(madeUp?.message ?? "")")
      await client.close()
    }
  }

  @Test func missingScopeIsPermissionDenied() async throws {
    try await TestServer.with { server, _ in
      let reader = try server.client(apiKey: TestKeys.readerKey)
      _ = await expectStatus(.permissionDenied) { try await reader.unary(writeOnlyMethod, self.ping([])) }
      _ = await expectStatus(.permissionDenied) {
        try await reader.unary(SystemMethods.ping, self.ping([]), options: CallOptions(tenantID: "tenant-b"))
      }
      _ = try await reader.unary(SystemMethods.ping, self.ping([]))
      await reader.close()
    }
  }

  @Test func anOperatorKeyActsOnTheTenantItNamesPerCall() async throws {
    try await TestServer.with { server, _ in
      let operatorClient = try server.client()
      let none = try await operatorClient.unary(whoAmIMethod, self.ping([]))
      #expect(String(decoding: none.payload, as: UTF8.self) == "none")
      for tenant in ["tenant-a", "tenant-b"] {
        let answer = try await operatorClient.unary(whoAmIMethod, self.ping([]), options: CallOptions(tenantID: tenant))
        #expect(String(decoding: answer.payload, as: UTF8.self) == tenant)
      }
      // A tenant id in upper case is the tenant's (its call rate's bucket too).
      let tenant = UUID().uuidString.lowercased()
      let upper = try await operatorClient.unary(
        whoAmIMethod, self.ping([]), options: CallOptions(tenantID: tenant.uppercased()))
      #expect(String(decoding: upper.payload, as: UTF8.self) == tenant)
      // A name far longer than a tenant id is refused before anything keeps it.
      let refusal = await expectStatus(.invalidArgument) {
        try await operatorClient.unary(
          whoAmIMethod, self.ping([]), options: CallOptions(tenantID: String(repeating: "x", count: 4_096)))
      }
      #expect(refusal?.fieldViolations.map(\.field) == ["tenant_id"])
      // A tenant's key always acts on its own tenant, and may not name another.
      let reader = try server.client(apiKey: TestKeys.readerKey)
      let own = try await reader.unary(whoAmIMethod, self.ping([]))
      #expect(String(decoding: own.payload, as: UTF8.self) == "tenant-a")
      _ = await expectStatus(.permissionDenied) {
        try await reader.unary(whoAmIMethod, self.ping([]), options: CallOptions(tenantID: "tenant-b"))
      }
      await operatorClient.close()
      await reader.close()
    }
  }

  /// A client that does not trust the server's CA is told so in words, not in BoringSSL's.
  @Test func anUntrustedCertificateIsNamedInWords() async throws {
    try await TestServer.with { server, _ in
      var configuration = server.clientConfiguration()
      configuration.security = .tls(caCertificatePath: nil, serverHostname: nil)  // the system's CAs
      configuration.maxAttempts = 1
      let client = try TallyClient(configuration: configuration)
      let error = await expectStatus(.unavailable) { try await client.unary(SystemMethods.ping, self.ping([])) }
      #expect(
        error?.message.contains("the server's certificate is not trusted: a CA this client trusts did not sign it")
          == true, "\(String(describing: error))")
      #expect(error?.message.contains("OPENSSL_internal") == false)
      await client.close()
    }
  }

  @Test(arguments: ["tly_operator_wrong", "tly_nobody_s3cret", "not-a-key", ""])
  func badKeysAreUnauthenticated(_ key: String) async throws {
    try await TestServer.with { server, _ in
      let client = try server.client(apiKey: key)
      _ = await expectStatus(.unauthenticated) { try await client.unary(SystemMethods.ping, self.ping([])) }
      await client.close()
    }
  }

  @Test func gracefulShutdownFinishesCallsInFlight() async throws {
    let client: TallyClient = try await TestServer.with { server, group in
      let client = try server.client()
      _ = try await client.unary(SystemMethods.ping, self.ping([]))
      let calls = Task {
        try await withThrowingTaskGroup(of: Data.self) { calls in
          for index in 0..<50 {
            calls.addTask {
              try await client.unary(slowEchoMethod, self.ping([UInt8(index)])).payload
            }
          }
          var payloads: [Data] = []
          for try await payload in calls { payloads.append(payload) }
          return payloads
        }
      }
      // Shut down only once every call runs on the server; a call the GOAWAY refuses would never run.
      #expect(try await server.probe.waitFor(.seconds(30)) { $0.started == 50 }, "not every call reached the server")
      await group.triggerGracefulShutdown()
      let payloads = try await calls.value
      #expect(Set(payloads) == Set((0..<50).map { Data([UInt8($0)]) }), "a call in flight failed")
      return client
    }
    // The server is gone: a new call cannot connect.
    _ = await expectStatus(.unavailable) { try await client.unary(SystemMethods.ping, self.ping([])) }
  }

  /// A call that outlasts the grace period is cut off when it ends: the shutdown takes the grace
  /// period, not as long as the call would have run (60 s here).
  @Test func theGracePeriodEndsCallsThatOutlastIt() async throws {
    let triggered = NIOLockedValueBox<ContinuousClock.Instant?>(nil)
    let call: Task<Tally_V1_PingResponse, any Error> = try await TestServer.with(shutdownGracePeriod: .seconds(1)) {
      server, group in
      let client = try server.client()
      let call = Task { try await client.unary(blockMethod, self.ping([])) }
      #expect(try await server.probe.waitFor(.seconds(30)) { $0.started == 1 }, "the call did not reach the server")
      triggered.withLockedValue { $0 = .now }
      await group.triggerGracefulShutdown()
      return call
    }
    let took = ContinuousClock.now - triggered.withLockedValue { $0! }
    #expect(took < .seconds(10), "the shutdown took \(took) with a grace period of 1 s")
    call.cancel()
    _ = await call.result
  }

  @Test func clientReconnectsAfterTheServerSaysGoAway() async throws {
    let limits = ServerLimits(idleTimeout: .milliseconds(300))
    try await TestServer.with(limits: limits) { server, _ in
      let client = try server.client()
      let first = try await client.welcome()
      #expect(first.idleTimeoutMs == 300)
      try await Task.sleep(for: .milliseconds(800))
      // The idle connection got GOAWAY IDLE_TIMEOUT; this call goes out on a new one.
      let response = try await client.unary(SystemMethods.ping, self.ping([9]))
      #expect(response.payload == Data([9]))
      await client.close()
    }
  }
}
