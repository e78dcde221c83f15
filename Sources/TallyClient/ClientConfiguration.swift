/// Where and how a `TallyClient` connects.
public struct ClientConfiguration: Sendable {
  public enum Security: Sendable, Hashable {
    /// TLS, trusting the CA certificates in this PEM file (the system's when nil).
    case tls(caCertificatePath: String?, serverHostname: String?)
    /// Plain TCP: only for a server that allows it (tests on loopback).
    case plaintext
  }

  public var host: String
  public var port: Int
  public var security: Security
  public var apiKey: String
  public var clientName: String
  public var connectTimeout: Duration
  /// How often a call refused by a closing connection is sent again on a new one.
  public var maxAttempts: Int
  /// The first wait before a call refused by a busy or lost server is sent again; each further
  /// wait doubles (up to 2 s), and each is drawn between half of it and all of it, so that the
  /// clients of one restarted server do not all come back at the same instant.
  public var retryBackoff: Duration
  /// How long in all a unary or server-streaming call waits out its tenant's rate limit
  /// (RESOURCE_EXHAUSTED with retry_after: the call never started) before failing with it.
  public var maxRateLimitWait: Duration

  public init(
    host: String,
    port: Int,
    security: Security = .tls(caCertificatePath: nil, serverHostname: nil),
    apiKey: String,
    clientName: String = "tally-swift",
    connectTimeout: Duration = .seconds(10),
    maxAttempts: Int = 3,
    retryBackoff: Duration = .milliseconds(50),
    maxRateLimitWait: Duration = .seconds(30)
  ) {
    self.host = host
    self.port = port
    self.security = security
    self.apiKey = apiKey
    self.clientName = clientName
    self.connectTimeout = connectTimeout
    self.maxAttempts = maxAttempts
    self.retryBackoff = retryBackoff
    self.maxRateLimitWait = maxRateLimitWait
  }

  /// The wait before attempt `attempt` (2 for the first retry): `retryBackoff` doubled per
  /// earlier retry, at most 2 s, times `jitter` (drawn in 0.5…1).
  public func backoff(beforeAttempt attempt: Int, jitter: Double = .random(in: 0.5...1)) -> Duration {
    let doublings = min(max(attempt - 2, 0), 16)
    let wait = min(self.retryBackoff * (1 << doublings), .seconds(2))
    return wait * jitter
  }

  /// Parses `host:port` (or `[v6]:port`).
  public static func parseEndpoint(_ endpoint: String) -> (host: String, port: Int)? {
    guard let colon = endpoint.lastIndex(of: ":"), let port = Int(endpoint[endpoint.index(after: colon)...]),
      (1...65535).contains(port)
    else { return nil }
    var host = String(endpoint[..<colon])
    if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
    return host.isEmpty ? nil : (host, port)
  }
}

/// Per-call settings, carried in the CALL header.
public struct CallOptions: Sendable {
  /// The call fails with DEADLINE_EXCEEDED after this long; the server stops its work then too.
  public var timeout: Duration?
  public var requestID: String?
  public var idempotencyKey: String?
  /// For operator keys: the tenant this call acts on.
  public var tenantID: String?
  public var metadata: [String: String]

  public init(
    timeout: Duration? = nil,
    requestID: String? = nil,
    idempotencyKey: String? = nil,
    tenantID: String? = nil,
    metadata: [String: String] = [:]
  ) {
    self.timeout = timeout
    self.requestID = requestID
    self.idempotencyKey = idempotencyKey
    self.tenantID = tenantID
    self.metadata = metadata
  }
}

extension CallOptions {
  /// The longest deadline the server keeps: a longer `timeout_ms` is no deadline there
  /// (PROTOCOL.md §5), so `--timeout` refuses one.
  public static let maxTimeout: Duration = .seconds(30 * 24 * 3600)

  /// A timeout of `seconds` (as `--timeout` takes it), or nil unless it is above 0 and at most
  /// `maxTimeout`: `Duration.seconds` traps on a number as large as 1e21, and NaN means nothing.
  public static func timeout(seconds: Double) -> Duration? {
    guard seconds > 0, seconds <= Double(Self.maxTimeout.components.seconds) else { return nil }
    return .seconds(seconds)
  }

  /// These options for an attempt that starts after `wait`, with what is left then of the call's
  /// timeout; nil when that attempt could not start before the call's `deadline`.
  func forAttempt(
    after wait: Duration, deadline: ContinuousClock.Instant?, now: ContinuousClock.Instant = .now
  ) -> CallOptions? {
    guard let deadline else { return self }
    let left = deadline - (now + wait)
    guard left > .zero else { return nil }
    var options = self
    options.timeout = left
    return options
  }
}
