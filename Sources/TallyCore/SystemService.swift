import TallyProto
import TallyStore
public import TallyWire

/// The version string tallyd reports in WELCOME and ServerInfo.
public let tallyServerVersion = "0.1.0"

/// The limits a server runs with, as ServerInfo reports them.
public struct ServerLimits: Sendable, Hashable {
  public var maxFramePayload: Int
  public var maxConcurrentStreams: Int
  public var idleTimeout: Duration
  public var handshakeTimeout: Duration
  public var maxMessagesPerStream: Int
  /// Calls per second one tenant may start, sustained (0: not limited): one tenant cannot take
  /// the server from the others. Counted per server process, like every limit here.
  public var tenantCallsPerSecond: Int
  /// Calls a tenant quiet for a while may start at once before the rate applies.
  public var tenantCallBurst: Int
  /// Connections one key may hold open (0: not limited): a leaking client pool cannot use up the server.
  public var maxConnectionsPerKey: Int
  /// Connections one tenant's keys may hold open together (0: not limited): a tenant's 100 keys
  /// could otherwise hold 100 × `maxConnectionsPerKey`, and their memory, from the other tenants.
  public var maxConnectionsPerTenant: Int
  /// Connections from one IPv4 address or IPv6 /64 that have not had their HELLO accepted yet (0: not
  /// limited); the next is closed at once, before TLS: one source cannot tie up the server with handshakes.
  public var maxHandshakesPerAddress: Int
  /// How long a connection may stay unwritable (its peer reads none of the answers) before the
  /// server closes it: a client that never reads cannot keep its queued answers, or a server
  /// stream waiting to write, in memory for ever.
  public var writeStallTimeout: Duration
  /// Bytes of request messages one connection's calls may hold before the server stops reading
  /// from it: a message counts from its arrival until its unary call returns, or until its
  /// client-streaming handler asks for the next one. Without it, 100 streams of 15 buffered
  /// 4 MiB messages each would fit under the per-stream limit: 6 GiB for one connection.
  public var maxHeldRequestBytes: Int
  /// Bytes of request messages the calls of all connections may hold together before the server
  /// stops reading from any: one key's connections (up to `maxConnectionsPerKey`, each with its
  /// own `maxHeldRequestBytes`) could otherwise hold the machine's memory.
  public var maxServerHeldRequestBytes: Int
  /// How long one frame may take to arrive whole, from the read that brought its first bytes (or
  /// completed the frame before it): a peer that trickles a frame in holds its buffer, up to
  /// `maxFramePayload`, and the idle timeout counts every byte as activity.
  public var frameTimeout: Duration

  public init(
    maxFramePayload: Int = Frame.defaultMaxPayload,
    maxConcurrentStreams: Int = 100,
    idleTimeout: Duration = .seconds(300),
    handshakeTimeout: Duration = .seconds(10),
    maxMessagesPerStream: Int = 1_000_000,
    tenantCallsPerSecond: Int = 10_000,
    tenantCallBurst: Int = 20_000,
    maxConnectionsPerKey: Int = 1_000,
    maxConnectionsPerTenant: Int = 5_000,
    maxHandshakesPerAddress: Int = 128,
    writeStallTimeout: Duration = .seconds(60),
    maxHeldRequestBytes: Int = 4 * Frame.defaultMaxPayload,
    maxServerHeldRequestBytes: Int = ServerLimits.defaultMaxServerHeldRequestBytes,
    frameTimeout: Duration = .seconds(60)
  ) {
    self.maxFramePayload = maxFramePayload
    self.maxConcurrentStreams = maxConcurrentStreams
    self.idleTimeout = idleTimeout
    self.handshakeTimeout = handshakeTimeout
    self.maxMessagesPerStream = maxMessagesPerStream
    self.tenantCallsPerSecond = tenantCallsPerSecond
    self.tenantCallBurst = tenantCallBurst
    self.maxConnectionsPerKey = maxConnectionsPerKey
    self.maxConnectionsPerTenant = maxConnectionsPerTenant
    self.maxHandshakesPerAddress = maxHandshakesPerAddress
    self.writeStallTimeout = writeStallTimeout
    self.maxHeldRequestBytes = maxHeldRequestBytes
    self.maxServerHeldRequestBytes = maxServerHeldRequestBytes
    self.frameTimeout = frameTimeout
  }
}

extension ServerLimits {
  /// What `tenantCallsPerSecond` may be, in tallyd's file and for one tenant (SetTenantCallRate).
  public static let tenantCallsPerSecondRange = 0...1_000_000
  public static let tenantCallBurstRange = 1...10_000_000
  /// What `maxHeldRequestBytes` may be in tallyd's file: 64 KiB to 1 GiB.
  public static let maxHeldRequestBytesRange = (64 << 10)...(1 << 30)
  /// What `maxServerHeldRequestBytes` may be in tallyd's file: 64 KiB to 1 TiB.
  public static let maxServerHeldRequestBytesRange = (64 << 10)...(1 << 40)
  /// An eighth of the machine's memory (or its container's), at least 64 MiB and at most 4 GiB:
  /// 3 GiB on a 24 GiB machine, 192 connections at their own default budget.
  public static let defaultMaxServerHeldRequestBytes = min(
    max(Int(clamping: MachineMemory.bytes / 8), 64 << 20), 4 << 30)

  /// 60 s per 4 MiB of the largest frame, never under 60 s: a larger maximum leaves a whole frame
  /// the same ~70 KB/s (16 minutes for 64 MiB), and the default maximum keeps the default timeout.
  public static func defaultFrameTimeout(maxFramePayload: Int) -> Duration {
    .milliseconds(max(60_000, Int64(maxFramePayload) * 60_000 / Int64(Frame.defaultMaxPayload)))
  }
}

/// One tenant's own call rate, set by the operator (SetTenantCallRate): each part left nil is
/// the server's `ServerLimits` value; `callsPerSecond` 0 lifts the limit for the tenant.
public struct TenantCallRate: Sendable, Hashable {
  public var callsPerSecond: Int?
  public var burst: Int?

  public init(callsPerSecond: Int? = nil, burst: Int? = nil) {
    self.callsPerSecond = callsPerSecond
    self.burst = burst
  }
}

extension Duration {
  /// Whole milliseconds, clamped to what a `uint32` field can say.
  public var clampedMilliseconds: UInt32 {
    UInt32(clamping: max(0, self.wholeMilliseconds))
  }
}

/// `tally.v1.SystemService`: liveness, server facts, and the call shapes in their simplest form.
public struct SystemService: Sendable {
  public static let maxPingDelayMilliseconds: UInt32 = 60_000
  public static let maxCount: UInt32 = 1_000_000
  public static let maxCountIntervalMilliseconds: UInt32 = 10_000
  /// The most numbers one Sum message may hold (`Tally_V1_SumRequest.wireFieldLimits`).
  public static let maxSumNumbers = 100_000

  private let limits: ServerLimits
  private let startedAt: ContinuousClock.Instant

  public init(limits: ServerLimits, startedAt: ContinuousClock.Instant = .now) {
    self.limits = limits
    self.startedAt = startedAt
  }

  public func register(into router: inout Router) {
    router.unary(SystemMethods.ping, access: .anyKey, self.ping)
    router.unary(SystemMethods.serverInfo, access: .anyKey, self.serverInfo)
    router.serverStreaming(SystemMethods.count, access: .anyKey, self.count)
    router.clientStreaming(SystemMethods.sum, access: .anyKey, self.sum)
  }

  @Sendable func ping(_ request: Tally_V1_PingRequest, _ context: RequestContext) async throws
    -> Tally_V1_PingResponse
  {
    guard request.delayMs <= Self.maxPingDelayMilliseconds else {
      throw RPCError.invalidArgument(
        field: "delay_ms",
        "must be at most \(Self.maxPingDelayMilliseconds), got \(request.delayMs)"
      )
    }
    if request.delayMs > 0 {
      try await Task.sleep(for: .milliseconds(request.delayMs))
    }
    var response = Tally_V1_PingResponse()
    response.payload = request.payload
    return response
  }

  @Sendable func serverInfo(_ request: Tally_V1_ServerInfoRequest, _ context: RequestContext) async throws
    -> Tally_V1_ServerInfoResponse
  {
    var limits = Tally_V1_ServerLimits()
    limits.maxFramePayload = UInt32(clamping: self.limits.maxFramePayload)
    limits.maxConcurrentStreams = UInt32(clamping: self.limits.maxConcurrentStreams)
    limits.idleTimeoutMs = self.limits.idleTimeout.clampedMilliseconds
    limits.handshakeTimeoutMs = self.limits.handshakeTimeout.clampedMilliseconds
    limits.maxMessagesPerStream = UInt32(clamping: self.limits.maxMessagesPerStream)
    limits.tenantCallsPerSecond = UInt32(clamping: self.limits.tenantCallsPerSecond)
    limits.tenantCallBurst = UInt32(clamping: self.limits.tenantCallBurst)
    limits.maxConnectionsPerKey = UInt32(clamping: self.limits.maxConnectionsPerKey)
    limits.maxConnectionsPerTenant = UInt32(clamping: self.limits.maxConnectionsPerTenant)
    limits.maxHandshakesPerAddress = UInt32(clamping: self.limits.maxHandshakesPerAddress)
    var response = Tally_V1_ServerInfoResponse()
    response.serverVersion = tallyServerVersion
    response.protocolVersion = tallyProtocolVersion
    let uptime = ContinuousClock.now - self.startedAt
    response.uptimeMs = UInt64(max(0, uptime.wholeMilliseconds))
    response.limits = limits
    return response
  }

  @Sendable func count(
    _ request: Tally_V1_CountRequest,
    _ context: RequestContext,
    _ writer: ResponseWriter<Tally_V1_CountResponse>
  ) async throws {
    var violations: [RPCError.FieldViolation] = []
    if request.n > Self.maxCount {
      violations.append(.init(field: "n", description: "must be at most \(Self.maxCount), got \(request.n)"))
    }
    if request.intervalMs > Self.maxCountIntervalMilliseconds {
      violations.append(
        .init(
          field: "interval_ms",
          description: "must be at most \(Self.maxCountIntervalMilliseconds), got \(request.intervalMs)"
        )
      )
    }
    guard violations.isEmpty else { throw RPCError.invalidArgument(violations) }
    for number in 1...max(request.n, 1) where request.n > 0 {
      if request.intervalMs > 0, number > 1 {
        try await Task.sleep(for: .milliseconds(request.intervalMs))
      }
      try Task.checkCancellation()
      var message = Tally_V1_CountResponse()
      message.number = number
      try await writer.send(message)
    }
  }

  @Sendable func sum(_ requests: RequestStream<Tally_V1_SumRequest>, _ context: RequestContext) async throws
    -> Tally_V1_SumResponse
  {
    var response = Tally_V1_SumResponse()
    for try await request in requests {
      response.messages += 1
      for number in request.numbers {
        let (sum, overflow) = response.sum.addingReportingOverflow(number)
        guard !overflow else {
          throw RPCError(
            code: .outOfRange,
            message: "the sum no longer fits a signed 64-bit integer after \(response.count) numbers"
          )
        }
        response.sum = sum
        response.count += 1
      }
    }
    return response
  }
}
