import Foundation
import NIOCore
import Synchronization
import TallyClient
import TallyCore
import TallyProto
import TallyWire
import Testing

@testable import TallyServer

/// The per-tenant call rate and the per-key connection limit: the counting alone, then over real TLS.
@Suite struct TenantLimitsTests {
  @Test func aBucketLetsItsBurstThroughThenOneCallPerInterval() {
    var bucket = TokenBucket()
    for _ in 0..<3 { #expect(bucket.take(now: 1_000, interval: 100, burst: 3) == nil) }
    #expect(bucket.take(now: 1_000, interval: 100, burst: 3) == 100)
    #expect(bucket.take(now: 1_099, interval: 100, burst: 3) == 1)
    // Refused takes took nothing: the token due at 1,100 is there, and only that one.
    #expect(bucket.take(now: 1_100, interval: 100, burst: 3) == nil)
    #expect(bucket.take(now: 1_100, interval: 100, burst: 3) == 100)
  }

  /// Frames that start no call take what tokens there are, and say how many were missing; the
  /// bucket never goes below empty, so the tenant's calls wait no longer for them.
  @Test func framesTakeTheTokensThereAreAndCountTheRest() {
    var bucket = TokenBucket()
    #expect(bucket.takeUpTo(2, now: 1_000, interval: 100, burst: 3) == 0)
    #expect(bucket.takeUpTo(3, now: 1_000, interval: 100, burst: 3) == 2)
    #expect(bucket.take(now: 1_099, interval: 100, burst: 3) == 1)
    #expect(bucket.takeUpTo(5, now: 1_150, interval: 100, burst: 3) == 4, "the token due at 1,100 only")
    #expect(bucket.take(now: 1_200, interval: 100, burst: 3) == nil)
    let rates = TenantCallRates(callsPerSecond: 10, burst: 10)
    var last: TenantCallRates.Remembered?
    // One instant for all three: a token came back between them when the test thread stalled.
    let now = NIODeadline.uptimeNanoseconds(1_000_000_000_000)
    #expect(rates.charge(10, to: "t", remembering: &last, now: now) == nil)
    #expect(rates.charge(30, to: "t", remembering: &last, now: now) == .seconds(3), "30 tokens missing at 100 ms each")
    #expect(rates.charge(1_000, to: "t", remembering: &last, now: now) == TenantCallRates.maxChargeWait)
  }

  @Test func aQuietBucketFillsUpToItsBurstAndNoFurther() {
    var bucket = TokenBucket()
    #expect(bucket.take(now: 0, interval: 100, burst: 2) == nil)
    let later: UInt64 = 1_000_000
    #expect(bucket.take(now: later, interval: 100, burst: 2) == nil)
    #expect(bucket.take(now: later, interval: 100, burst: 2) == nil)
    #expect(bucket.take(now: later, interval: 100, burst: 2) == 100)
  }

  @Test func refusalsWaitWholeMillisecondsRoundedUp() throws {
    let rates = TenantCallRates(callsPerSecond: 3, burst: 1)
    let now = NIODeadline.uptimeNanoseconds(5_000_000_000)
    #expect(rates.admit("a", now: now) == nil)
    // 1 s / 3 = 333,333,333 ns: 334 ms, never a 0 that would mean "now".
    #expect(rates.admit("a", now: now)?.retryAfter == .milliseconds(334))
    #expect(rates.admit("a", now: now + .nanoseconds(333_333_332))?.retryAfter == .milliseconds(1))
    #expect(rates.admit("a", now: now + .nanoseconds(333_333_333)) == nil)
    #expect(rates.admit("b", now: now) == nil, "another tenant has its own bucket")
    let off = TenantCallRates(callsPerSecond: 0, burst: 10)
    #expect((0..<100).allSatisfy { _ in off.admit("a", now: now) == nil }, "0 turns the limit off")
  }

  @Test func aTenantsOwnRateReplacesTheServersForItAlone() throws {
    let rates = TenantCallRates(callsPerSecond: 1000, burst: 2)
    let now = NIODeadline.uptimeNanoseconds(9_000_000_000)
    var remembered: TenantCallRates.Remembered?
    #expect(rates.admit("slow", remembering: &remembered, now: now) == nil)
    // Its own rate: one call per second, bursts of one. The connection's remembered bucket is
    // dropped with the change; the call it spent stays spent, regained at the new rate.
    rates.replaceOwnRates(
      ["slow": TenantCallRate(callsPerSecond: 1, burst: 1), "free": TenantCallRate(callsPerSecond: 0)], now: now)
    let refusal = try #require(rates.admit("slow", remembering: &remembered, now: now))
    #expect(refusal.retryAfter == .seconds(1) && refusal.limit == .init(callsPerSecond: 1, burst: 1))
    #expect(refusal.error.message.contains("1 calls per second (bursts of up to 1)"))
    let second = now + .seconds(1)
    #expect(rates.admit("slow", remembering: &remembered, now: second) == nil)
    #expect(rates.admit("slow", remembering: &remembered, now: second) != nil)
    // Another tenant keeps the server's rate and burst; "free" is not limited at all.
    #expect(rates.admit("other", now: now) == nil && rates.admit("other", now: now) == nil)
    #expect(rates.admit("other", now: now)?.limit == .init(callsPerSecond: 1000, burst: 2))
    #expect((0..<100).allSatisfy { _ in rates.admit("free", now: now) == nil })
    // Only a burst of its own: the server's rate with that burst. The call spent at `second` now
    // comes back in a millisecond, so four of the five are there at once.
    rates.replaceOwnRates(["slow": TenantCallRate(burst: 5)], now: second)
    for _ in 0..<4 { #expect(rates.admit("slow", remembering: &remembered, now: second) == nil) }
    #expect(
      rates.admit("slow", remembering: &remembered, now: second)?.limit == .init(callsPerSecond: 1000, burst: 5))
    // Rates read again unchanged keep the buckets as they are; an empty list puts "slow" back on
    // the server's rate, its five spent calls cut to the server's burst of two.
    rates.replaceOwnRates(["slow": TenantCallRate(burst: 5)], now: second)
    #expect(rates.admit("slow", remembering: &remembered, now: second) != nil, "the bucket is still empty")
    rates.replaceOwnRates([:], now: second)
    #expect(rates.admit("slow", remembering: &remembered, now: second) != nil)
    let regained = second + .milliseconds(2)
    #expect(rates.admit("slow", remembering: &remembered, now: regained) == nil)
    #expect(rates.admit("slow", remembering: &remembered, now: regained) == nil)
    #expect(
      rates.admit("slow", remembering: &remembered, now: regained)?.limit == .init(callsPerSecond: 1000, burst: 2))
    // A server whose limit is off still limits a tenant with a rate of its own.
    let off = TenantCallRates(callsPerSecond: 0, burst: 10)
    off.replaceOwnRates(["slow": TenantCallRate(callsPerSecond: 2)])
    for _ in 0..<10 { #expect(off.admit("slow", now: now) == nil) }
    #expect(off.admit("slow", now: now)?.limit == .init(callsPerSecond: 2, burst: 10))
    #expect(off.admit("other", now: now) == nil)
  }

  @Test func bucketsFullAgainAreForgotten() throws {
    let rates = TenantCallRates(callsPerSecond: 1000, burst: 1)
    let start = NIODeadline.uptimeNanoseconds(1_000_000_000)
    var remembered: TenantCallRates.Remembered?
    for index in 0..<TenantCallRates.minimumSweep {
      #expect(rates.admit("tenant-\(index)", remembering: &remembered, now: start) == nil)
    }
    #expect(rates.trackedTenants == TenantCallRates.minimumSweep)
    // A second later every bucket is full again, so the next new tenant's sweep drops them all.
    #expect(rates.admit("late", now: start + .seconds(1)) == nil)
    #expect(rates.trackedTenants == 1)
    // The connection that remembered a forgotten bucket looks its tenant up again, so a tenant
    // never has two buckets counting apart.
    let last = "tenant-\(TenantCallRates.minimumSweep - 1)"
    #expect(rates.admit(last, remembering: &remembered, now: start + .seconds(1)) == nil)
    #expect(rates.trackedTenants == 2)
    #expect(rates.admit(last, now: start + .seconds(1))?.retryAfter == .milliseconds(1))
  }

  @Test func callsRacingOnManyThreadsTakeExactlyTheBurst() async throws {
    let rates = TenantCallRates(callsPerSecond: 1, burst: 1000)
    let now = NIODeadline.uptimeNanoseconds(7_000_000_000)
    let admitted = await withTaskGroup(of: Int.self) { group in
      for _ in 0..<8 {
        group.addTask {
          var remembered: TenantCallRates.Remembered?
          var admitted = 0
          for _ in 0..<500 where rates.admit("a", remembering: &remembered, now: now) == nil { admitted += 1 }
          return admitted
        }
      }
      return await group.reduce(0, +)
    }
    #expect(admitted == 1000)
  }

  @Test func aKeyHoldsAtMostItsLimitOfConnections() throws {
    let counts = try #require(ConnectionCounts<String>(limit: 2))
    #expect(counts.open("a") && counts.open("a"))
    #expect(!counts.open("a"))
    #expect(counts.count("a") == 2, "a refused connection is not counted")
    #expect(counts.open("b"))
    counts.close("a")
    #expect(counts.open("a"))
    #expect(ConnectionCounts<String>(limit: 0) == nil)
  }

  private static let oneCallPerSecond = ServerLimits(tenantCallsPerSecond: 1, tenantCallBurst: 3)

  /// A client that fails at once on a rate refusal instead of waiting it out.
  private static func impatientClient(_ server: TestServer, apiKey: String) throws -> TallyClient {
    var configuration = server.clientConfiguration(apiKey: apiKey)
    configuration.maxRateLimitWait = .zero
    return try TallyClient(configuration: configuration)
  }

  @Test func aTenantOverItsRateGetsResourceExhaustedWithRetryAfter() async throws {
    try await TestServer.with(limits: Self.oneCallPerSecond) { server, _ in
      let reader = try Self.impatientClient(server, apiKey: TestKeys.readerKey)
      let operatorClient = try Self.impatientClient(server, apiKey: TestKeys.operatorKey)
      _ = try await reader.welcome()
      _ = try await operatorClient.welcome()
      // The burst of 3, and one more per second that the calls took (a loaded machine is slow).
      let started = ContinuousClock.now
      let (admitted, refusal, refusedCallSentAt) = try await pingUntilRefused(reader)
      let refusedAt = ContinuousClock.now
      #expect(admitted >= 3 && admitted <= 4 + Int((refusedAt - started).components.seconds))
      #expect(refusal?.code == .resourceExhausted)
      let wait = try #require(refusal?.retryAfter)
      #expect(wait > .zero && wait <= .seconds(1))
      #expect(refusal?.message.contains("1 calls per second (bursts of up to 3)") == true)

      // The limit is the tenant's, whichever key calls for it: the operator's call for tenant-a
      // gets in only once a token is back.
      do {
        _ = try await operatorClient.unary(
          SystemMethods.ping, Tally_V1_PingRequest(), options: CallOptions(tenantID: "tenant-a"))
        // From the refused call's send: its answer's trip back is time the bucket was refilling.
        #expect(ContinuousClock.now - refusedCallSentAt >= wait - .milliseconds(1), "tenant-a's bucket was empty")
      } catch let error as RPCError {
        #expect(error.code == .resourceExhausted)
      }
      // Other tenants and the operator's own calls keep their rates.
      for _ in 0..<3 {
        _ = try await operatorClient.unary(
          SystemMethods.ping, Tally_V1_PingRequest(), options: CallOptions(tenantID: "tenant-b"))
      }
      for _ in 0..<5 { _ = try await operatorClient.unary(SystemMethods.ping, Tally_V1_PingRequest()) }
      await reader.close()
      await operatorClient.close()
    }
  }

  @Test func theClientWaitsOutARateRefusalAndTheCallRunsOnce() async throws {
    try await TestServer.with(limits: Self.oneCallPerSecond) { server, _ in
      // The bucket emptied, as a refusal shows (pings until one is refused: on a loaded machine the
      // burst's three can take long enough for a token to come back); then a client that waits
      // calls for the same tenant.
      let impatient = try Self.impatientClient(server, apiKey: TestKeys.readerKey)
      _ = try await impatient.welcome()
      var refusal: RPCError?
      var refusedCallSentAt = ContinuousClock.now
      for _ in 0..<10 where refusal == nil {
        refusedCallSentAt = ContinuousClock.now
        do {
          _ = try await impatient.unary(SystemMethods.ping, Tally_V1_PingRequest())
        } catch let error as RPCError {
          refusal = error
        }
      }
      #expect(refusal?.code == .resourceExhausted)
      let wait = try #require(refusal?.retryAfter)
      let reader = try server.client(apiKey: TestKeys.readerKey)
      var request = Tally_V1_PingRequest()
      request.payload = Data("again".utf8)
      let response = try await reader.unary(slowEchoMethod, request)
      #expect(response.payload == request.payload)
      // It got in once a token was back (the server refused no sooner than the refused call was
      // sent, and the token came `wait`, rounded up to a millisecond, after that), and only that
      // attempt ran the handler.
      #expect(ContinuousClock.now - refusedCallSentAt >= wait - .milliseconds(1) + .milliseconds(700))
      #expect(server.probe.started == 1)
      await impatient.close()
      await reader.close()
    }
  }

  @Test func aRateWaitThatWouldPassTheCallsDeadlineFailsAtOnce() async throws {
    // A burst of one: the refused call's wait is a second less one ping, well past its timeout.
    try await TestServer.with(limits: ServerLimits(tenantCallsPerSecond: 1, tenantCallBurst: 1)) { server, _ in
      let reader = try server.client(apiKey: TestKeys.readerKey)
      _ = try await reader.welcome()
      // One call, then a call whose 500 ms cannot outlast the wait of nearly a second the server
      // asks for: it fails with the refusal at once (a call that did wait would succeed).
      let timeout = Duration.milliseconds(500)
      // How long the client takes to give up is CallOptionsTests' (a loaded machine's trips blur
      // it); a ping slower than the timeout on such a machine is a DEADLINE_EXCEEDED to try past.
      var refusal: RPCError?
      for _ in 0..<10 where refusal?.code != .resourceExhausted {
        do {
          _ = try await reader.unary(SystemMethods.ping, Tally_V1_PingRequest(), options: CallOptions(timeout: timeout))
        } catch let error as RPCError {
          refusal = error
        }
      }
      #expect(refusal?.code == .resourceExhausted, "the refusal itself, not a later attempt's answer")
      await reader.close()
    }
  }

  /// A reader's client that tries `maxAttempts` times, waiting `backoff` (doubled) between tries.
  private static func patientClient(_ server: TestServer, maxAttempts: Int, backoff: Duration) throws -> TallyClient {
    var configuration = server.clientConfiguration(apiKey: TestKeys.readerKey)
    configuration.maxAttempts = maxAttempts
    configuration.retryBackoff = backoff
    return try TallyClient(configuration: configuration)
  }

  @Test func aCallRefusedByABusyServerIsSentAgainAfterABackoff() async throws {
    try await TestServer.with(limits: ServerLimits(maxConnectionsPerKey: 1)) { server, _ in
      let holder = try server.client(apiKey: TestKeys.readerKey)
      _ = try await holder.welcome()
      let patient = try Self.patientClient(server, maxAttempts: 4, backoff: .milliseconds(300))
      // Refused (GOAWAY OVERLOADED) while the holder keeps the key's one place; sent again once
      // the holder has let it go, which a retry at once would not have waited for.
      // (Its attempts come at 0, 150–300, 300–600 and 600–1,200 ms: a loaded machine may still
      // be in the first when the holder leaves, so only the answer is checked, not the time.)
      async let reply = patient.unary(SystemMethods.ping, Tally_V1_PingRequest())
      try await Task.sleep(for: .milliseconds(100))
      await holder.close()
      _ = try await reply
      await patient.close()
    }
  }

  /// Calls sent on a connection the server closed before WELCOME never ran: each is sent again
  /// after a back-off, the first one too (it failed for good while the ones queued behind it were
  /// retried).
  @Test func callsSentBeforeAWelcomeThatNeverCameAreSentAgain() async throws {
    try await TestServer.with(limits: ServerLimits(maxHandshakesPerAddress: 1)) { server, _ in
      let holder = try await RawConnection(port: server.port)  // the address's one handshake
      let patient = try Self.patientClient(server, maxAttempts: 6, backoff: .milliseconds(200))
      async let first = patient.unary(SystemMethods.ping, Tally_V1_PingRequest())
      async let second = patient.unary(SystemMethods.ping, Tally_V1_PingRequest())
      try await Task.sleep(for: .milliseconds(150))
      await holder.close()
      _ = try await (first, second)
      await patient.close()
    }
  }

  @Test func aCallRefusedByABusyServerFailsWithTheRefusalAtItsDeadline() async throws {
    try await TestServer.with(limits: ServerLimits(maxConnectionsPerKey: 1)) { server, _ in
      let holder = try server.client(apiKey: TestKeys.readerKey)
      _ = try await holder.welcome()
      let patient = try Self.patientClient(server, maxAttempts: 1_000, backoff: .milliseconds(100))
      let started = ContinuousClock.now
      do {
        _ = try await patient.unary(
          SystemMethods.ping, Tally_V1_PingRequest(), options: CallOptions(timeout: .milliseconds(500)))
        Issue.record("the call got past a key at its connection limit")
      } catch let error as RPCError {
        // The last refusal, or (on a loaded machine) the deadline passing inside an attempt.
        let refused = error.code == .unavailable && error.message.contains("already holds 1 connections")
        #expect(refused || error.code == .deadlineExceeded, "\(error)")
      }
      // Back-offs of 50–100, 100–200, 200–400 ms…: a few attempts, none started past 500 ms (a
      // thousand attempts at once took seconds, each with a fresh 500 ms). Counted, not timed: a
      // loaded machine makes fewer attempts, never more.
      #expect(ContinuousClock.now - started < .seconds(10))
      let accepted = server.metricsText().split(separator: "\n").first {
        $0.hasPrefix("tally_connections_accepted_total ")
      }
      let attempts = accepted.flatMap { Int($0.split(separator: " ").last ?? "") }.map { $0 - 1 }  // the holder's
      // None at all when the deadline passed inside the first connect.
      #expect(attempts.map { $0 <= 6 } == true, "\(String(describing: accepted))")
      await patient.close()
      await holder.close()
    }
  }

  @Test func aClientStreamRefusedByTheRateIsSentAgainAfterTheWait() async throws {
    try await TestServer.with(limits: Self.oneCallPerSecond) { server, _ in
      let impatient = try Self.impatientClient(server, apiKey: TestKeys.readerKey)
      let reader = try server.client(apiKey: TestKeys.readerKey)
      _ = try await reader.welcome()
      // The bucket emptied by a refusal, then a stream at once: it finds the bucket empty and goes
      // through once the wait it was told is over. (On a loaded machine a second may pass between
      // the two, and the stream gets in at once: then again, up to five times.)
      var retried = false
      var streams = 0
      for _ in 0..<5 where !retried {
        let refusal = try await pingUntilRefused(impatient).refusal
        #expect(refusal?.code == .resourceExhausted)
        let attempts = Mutex(0)
        let response = try await RateLimitWaits.retrying(budget: reader.maxRateLimitWait) {
          attempts.withLock { $0 += 1 }
          return try await reader.clientStreaming(countMethod) { writer in
            for _ in 0..<3 { try await writer.send(Tally_V1_PingRequest()) }
          }
        }
        #expect(String(decoding: response.payload, as: UTF8.self) == "3")
        streams += 1
        retried = attempts.withLock { $0 } >= 2
      }
      #expect(retried, "no stream was refused and sent again")
      #expect(server.probe.started == streams, "a refused stream reached its handler")
      await impatient.close()
      await reader.close()
    }
  }

  @Test func serverInfoReportsTheLimits() async throws {
    let limits = ServerLimits(
      tenantCallsPerSecond: 250, tenantCallBurst: 500, maxConnectionsPerKey: 7, maxConnectionsPerTenant: 8,
      maxHandshakesPerAddress: 9)
    try await TestServer.with(limits: limits) { server, _ in
      let client = try server.client()
      let reported = try await client.unary(SystemMethods.serverInfo, Tally_V1_ServerInfoRequest()).limits
      #expect(reported.tenantCallsPerSecond == 250)
      #expect(reported.tenantCallBurst == 500)
      #expect(reported.maxConnectionsPerKey == 7)
      #expect(reported.maxConnectionsPerTenant == 8)
      #expect(reported.maxHandshakesPerAddress == 9)
      await client.close()
    }
  }

  /// Whether a new connection of `apiKey` gets WELCOME within 100 tries 20 ms apart: a place freed
  /// by a close is seen by the server a moment after the client's close returns.
  private static func welcomedWithin100Tries(_ server: TestServer, apiKey: String) async throws -> Bool {
    for _ in 0..<100 {
      let retry = try await RawConnection(port: server.port)
      try await retry.handshake(apiKey: apiKey)
      let welcomed = await retry.nextFrame()?.type == .welcome
      await retry.close()
      if welcomed { return true }
      try await Task.sleep(for: .milliseconds(20))
    }
    return false
  }

  /// A tenant's keys together hold at most `maxConnectionsPerTenant`: its 100 keys could otherwise
  /// hold a hundred times one key's connections. Another tenant's keys are counted apart.
  @Test func aTenantAtItsConnectionLimitGetsGoAwayOverloaded() async throws {
    let keys = ["tly_one_a1", "tly_two_a2", "tly_other_b1"].map { APIKey(parsing: $0)! }
    let authenticator = StaticKeyAuthenticator([
      (keys[0], Principal(keyID: "one", tenantID: "tenant-a", scopes: [.read])),
      (keys[1], Principal(keyID: "two", tenantID: "tenant-a", scopes: [.read])),
      (keys[2], Principal(keyID: "other", tenantID: "tenant-b", scopes: [.read])),
    ])
    let limits = ServerLimits(maxConnectionsPerKey: 10, maxConnectionsPerTenant: 2)
    try await TestServer.with(limits: limits, authenticator: authenticator) { server, _ in
      let first = try server.client(apiKey: "tly_one_a1")
      let second = try server.client(apiKey: "tly_two_a2")
      _ = try await first.welcome()
      _ = try await second.welcome()
      for key in ["tly_one_a1", "tly_two_a2"] {
        let third = try await RawConnection(port: server.port)
        try await third.handshake(apiKey: key)
        let goAway = await third.nextGoAway()
        #expect(goAway?.code == .overloaded)
        #expect(goAway?.message.contains("this tenant's keys already hold 2 connections") == true, "\(key)")
        #expect(await third.waitForClose())
      }
      let other = try await RawConnection(port: server.port)
      try await other.handshake(apiKey: "tly_other_b1")
      #expect(await other.nextFrame()?.type == .welcome)
      await other.close()
      // A closed connection frees its tenant's place (the server sees the close a moment later).
      await first.close()
      #expect(try await Self.welcomedWithin100Tries(server, apiKey: "tly_two_a2"))
      await second.close()
    }
  }

  @Test func aKeyAtItsConnectionLimitGetsGoAwayOverloaded() async throws {
    try await TestServer.with(limits: ServerLimits(maxConnectionsPerKey: 2)) { server, _ in
      let first = try server.client(apiKey: TestKeys.readerKey)
      let second = try server.client(apiKey: TestKeys.readerKey)
      _ = try await first.welcome()
      _ = try await second.welcome()

      let third = try await RawConnection(port: server.port)
      try await third.handshake(apiKey: TestKeys.readerKey)
      let goAway = await third.nextGoAway()
      #expect(goAway?.code == .overloaded)
      #expect(goAway?.message.contains("already holds 2 connections") == true)
      #expect(await third.waitForClose())

      // Another key is counted apart.
      let operatorConnection = try await RawConnection(port: server.port)
      try await operatorConnection.handshake(apiKey: TestKeys.operatorKey)
      #expect(await operatorConnection.nextFrame()?.type == .welcome)
      await operatorConnection.close()

      // A closed connection frees its place (the server sees the close a moment later).
      await first.close()
      #expect(try await Self.welcomedWithin100Tries(server, apiKey: TestKeys.readerKey))
      await second.close()
    }
  }
}
