import Foundation
import TallyCore
import TallyServer
import TallyWire

/// The `tallyd serve --config FILE` file (JSON). Every field has a default but the TLS files.
struct ServeConfiguration: Decodable {
  struct Listen: Decodable {
    var host = "0.0.0.0"
    var port = 7443

    enum CodingKeys: String, CodingKey { case host, port }

    init() {}

    init(from decoder: any Decoder) throws {
      let container = try decoder.container(keyedBy: CodingKeys.self)
      self.host = try container.decodeIfPresent(String.self, forKey: .host) ?? self.host
      self.port = try container.decodeIfPresent(Int.self, forKey: .port) ?? self.port
    }
  }

  /// Where Prometheus scrapes `GET /metrics` (deploy/README.md, "Metrics"); not served without it.
  struct Metrics: Decodable {
    var host: String?
    var port: Int?
  }

  struct TLS: Decodable {
    var certificateChain: String
    var privateKey: String
  }

  struct Limits: Decodable {
    var maxFramePayload: Int?
    var maxConcurrentStreams: Int?
    var idleTimeoutMs: Int?
    var handshakeTimeoutMs: Int?
    var tenantCallsPerSecond: Int?
    var tenantCallBurst: Int?
    var maxConnectionsPerKey: Int?
    var maxConnectionsPerTenant: Int?
    var maxHandshakesPerAddress: Int?
    var maxHeldRequestBytes: Int?
    var maxServerHeldRequestBytes: Int?
    var frameTimeoutMs: Int?
  }

  /// One API key accepted at HELLO (until keys live in the database).
  struct Key: Decodable {
    var key: String
    var scopes: [Scope]
    var tenantId: String?
  }

  /// PostgreSQL: without it, keys come from `api_keys` and only SystemService is served.
  struct DatabaseSettings: Decodable {
    /// The runtime role (tally_app): owns nothing, no BYPASSRLS.
    var url: String
    /// The owner role, for migrations at start; omit to migrate separately (`tallyd migrate`).
    var ownerUrl: String?
    var poolSize: Int?
    var migrations: String?
  }

  /// Required with `database`: the file of the key that seals anonymous answers until their round
  /// closes (64 hexadecimal digits; docs/SURVEYS.md). Every tallyd of one database needs the same.
  var answerSealingKeyFile: String?
  /// Keys that sealed answers of rounds still open when `answer_sealing_key_file` was replaced:
  /// they only open them. Drop one once every round it sealed has closed.
  var previousAnswerSealingKeyFiles: [String] = []

  var listen = Listen()
  var database: DatabaseSettings?
  var tls: TLS?
  /// Plain TCP: only for tests on loopback; must be asked for by name.
  var plaintext = false
  var metrics: Metrics?
  var limits = Limits()
  var shutdownGracePeriodMs = 30_000
  var logLevel = "info"
  var apiKeys: [Key] = []

  enum CodingKeys: String, CodingKey {
    case listen, tls, plaintext, limits, shutdownGracePeriodMs, logLevel, apiKeys, database, answerSealingKeyFile,
      previousAnswerSealingKeyFiles, metrics
  }

  init() {}

  init(from decoder: any Decoder) throws {
    let container = try decoder.container(keyedBy: CodingKeys.self)
    self.listen = try container.decodeIfPresent(Listen.self, forKey: .listen) ?? Listen()
    self.tls = try container.decodeIfPresent(TLS.self, forKey: .tls)
    self.plaintext = try container.decodeIfPresent(Bool.self, forKey: .plaintext) ?? false
    self.metrics = try container.decodeIfPresent(Metrics.self, forKey: .metrics)
    self.limits = try container.decodeIfPresent(Limits.self, forKey: .limits) ?? Limits()
    self.shutdownGracePeriodMs = try container.decodeIfPresent(Int.self, forKey: .shutdownGracePeriodMs) ?? 30_000
    self.logLevel = try container.decodeIfPresent(String.self, forKey: .logLevel) ?? "info"
    self.apiKeys = try container.decodeIfPresent([Key].self, forKey: .apiKeys) ?? []
    self.database = try container.decodeIfPresent(DatabaseSettings.self, forKey: .database)
    self.answerSealingKeyFile = try container.decodeIfPresent(String.self, forKey: .answerSealingKeyFile)
    self.previousAnswerSealingKeyFiles =
      try container.decodeIfPresent([String].self, forKey: .previousAnswerSealingKeyFiles) ?? []
  }

  static func load(path: String) throws -> ServeConfiguration {
    let data: Data
    do {
      data = try Data(contentsOf: URL(fileURLWithPath: path))
    } catch {
      throw ServerConfigurationError("cannot read the configuration file \(path): \(error.localizedDescription)")
    }
    try ConfigurationKeys.check(data, file: path)
    let decoder = JSONDecoder()
    decoder.keyDecodingStrategy = .convertFromSnakeCase
    let file: ServeConfiguration
    do {
      file = try decoder.decode(ServeConfiguration.self, from: data)
    } catch let error as DecodingError {
      throw ServerConfigurationError("\(path): \(Self.explain(error))")
    }
    do {
      try file.check()
    } catch let error as ServerConfigurationError {
      throw ServerConfigurationError("\(path): \(error.description)")
    }
    return file
  }

  static let logLevels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]

  /// The settings that no single decoder checks: each in its range, and no setting that would be ignored.
  func check() throws {
    try checked(self.listen.port, "listen.port", 1...65535)
    guard Self.logLevels.contains(self.logLevel.lowercased()) else {
      throw ServerConfigurationError(
        "log_level must be one of \(Self.logLevels.joined(separator: ", ")), got \"\(self.logLevel.prefix(40))\"")
    }
    // Above systemd's TimeoutStopSec (45 s in deploy/tallyd.service) the drain would be killed.
    try checked(self.shutdownGracePeriodMs, "shutdown_grace_period_ms", 0...600_000)
    if let database = self.database {
      guard self.apiKeys.isEmpty else {
        throw ServerConfigurationError(
          "api_keys is for a server without database; with one, keys live in the database (tally keys create)")
      }
      if let size = database.poolSize { try checked(size, "database.pool_size", 1...1_000) }
      if database.migrations != nil, database.ownerUrl == nil {
        throw ServerConfigurationError(
          "database.migrations is read only with database.owner_url (migrations run as the owner at start)")
      }
    } else if self.answerSealingKeyFile != nil || !self.previousAnswerSealingKeyFiles.isEmpty {
      throw ServerConfigurationError(
        "answer_sealing_key_file and previous_answer_sealing_key_files are for a server with a database")
    }
    if self.plaintext, self.tls != nil {
      throw ServerConfigurationError("plaintext and tls: name one (plaintext is only for tests on loopback)")
    }
    for (name, path) in [
      ("tls.certificate_chain", self.tls?.certificateChain), ("tls.private_key", self.tls?.privateKey),
    ] {
      guard let path, !FileManager.default.isReadableFile(atPath: path) else { continue }
      throw ServerConfigurationError("\(name): cannot read \(path) (it must exist and be readable by tallyd's user)")
    }
  }

  private static func explain(_ error: DecodingError) -> String {
    func path(_ context: DecodingError.Context) -> String {
      context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
    }
    switch error {
    case .keyNotFound(let key, let context): return "missing field \(path(context)).\(key.stringValue)"
    case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
      return "field \(path(context)): \(context.debugDescription)"
    @unknown default: return "\(error)"
    }
  }

  /// The keys in `answer_sealing_key_file` (which a server with a database needs) and
  /// `previous_answer_sealing_key_files`.
  func answerSealingKeys() throws -> AnswerSealingKeys {
    guard let path = self.answerSealingKeyFile else {
      throw ServerConfigurationError(
        "answer_sealing_key_file is required with database: a file of 64 hexadecimal digits"
          + " (openssl rand -hex 32 > FILE), the same for every tallyd of the database (deploy/README.md)")
    }
    do {
      return AnswerSealingKeys(
        current: try AnswerSealingKey(contentsOfFile: path),
        previous: try self.previousAnswerSealingKeyFiles.map { try AnswerSealingKey(contentsOfFile: $0) })
    } catch let error as AnswerSealingKey.InvalidKey {
      throw ServerConfigurationError(error.message)
    }
  }

  /// The server settings this file describes.
  func serverConfiguration() throws -> ServerConfiguration {
    var limits = ServerLimits()
    try self.limits.apply(to: &limits)
    guard self.tls != nil || self.plaintext else {
      throw ServerConfigurationError(
        "tls.certificate_chain and tls.private_key are required (or \"plaintext\": true for tests)")
    }
    return ServerConfiguration(
      host: self.listen.host,
      port: self.listen.port,
      tls: self.tls.map { .init(certificateChainPath: $0.certificateChain, privateKeyPath: $0.privateKey) },
      allowPlaintext: self.plaintext,
      limits: limits,
      shutdownGracePeriod: .milliseconds(self.shutdownGracePeriodMs)
    )
  }

  /// Where to serve the metrics: nil without a `metrics` object; its fields default to
  /// 127.0.0.1:9464 (loopback: the endpoint has no key).
  func metricsConfiguration() throws -> MetricsEndpoint.Configuration? {
    guard let metrics = self.metrics else { return nil }
    var configuration = MetricsEndpoint.Configuration()
    if let host = metrics.host {
      guard !host.isEmpty else { throw ServerConfigurationError("metrics.host must not be empty") }
      configuration.host = host
    }
    if let port = metrics.port { configuration.port = try checked(port, "metrics.port", 1...65535) }
    guard configuration.port != self.listen.port else {
      throw ServerConfigurationError("metrics.port must differ from listen.port (\(configuration.port))")
    }
    return configuration
  }

  func authenticator() throws -> StaticKeyAuthenticator {
    guard !self.apiKeys.isEmpty else { throw ServerConfigurationError("api_keys must name at least one key") }
    return try StaticKeyAuthenticator(
      self.apiKeys.enumerated().map { index, entry in
        guard let key = APIKey(parsing: entry.key) else {
          throw ServerConfigurationError("api_keys[\(index)].key is not of the form tly_<key id>_<secret>")
        }
        guard !entry.scopes.isEmpty else { throw ServerConfigurationError("api_keys[\(index)].scopes is empty") }
        return (key, Principal(keyID: key.keyID, tenantID: entry.tenantId, scopes: Set(entry.scopes)))
      }
    )
  }
}

/// `value` when `range` holds it; otherwise an error naming the setting and what it may be.
@discardableResult
func checked(_ value: Int, _ name: String, _ range: ClosedRange<Int>) throws -> Int {
  guard range.contains(value) else {
    throw ServerConfigurationError("\(name) must be \(range.lowerBound)...\(range.upperBound), got \(value)")
  }
  return value
}

extension ServeConfiguration.Limits {
  /// Sets the limits given on `limits`, each checked. Errors name them as the file's `limits.`
  /// keys, or as `tallyd dev`'s flags (`--tenant-calls-per-second`) with `asFlags`.
  func apply(to limits: inout ServerLimits, asFlags: Bool = false) throws {
    func name(_ key: String) -> String {
      asFlags ? "--" + key.replacingOccurrences(of: "_", with: "-") : "limits." + key
    }
    if let value = self.maxFramePayload {
      // Never below the protocol's default: a client may pipeline calls that size before WELCOME.
      guard (Frame.defaultMaxPayload...(64 << 20)).contains(value) else {
        throw ServerConfigurationError(
          "\(name("max_frame_payload")) must be \(Frame.defaultMaxPayload)...67108864 (4 to 64 MiB), got \(value)")
      }
      limits.maxFramePayload = value
    }
    if let value = self.maxConcurrentStreams {
      limits.maxConcurrentStreams = try checked(value, name("max_concurrent_streams"), 1...100_000)
    }
    if let value = self.idleTimeoutMs {
      guard value >= 1000 else { throw ServerConfigurationError("\(name("idle_timeout_ms")) must be at least 1000") }
      limits.idleTimeout = .milliseconds(value)
    }
    if let value = self.handshakeTimeoutMs {
      guard value >= 100 else { throw ServerConfigurationError("\(name("handshake_timeout_ms")) must be at least 100") }
      limits.handshakeTimeout = .milliseconds(value)
    }
    if let value = self.tenantCallsPerSecond {
      // 0 turns the rate limit off, as it does the connection limit below.
      limits.tenantCallsPerSecond = try checked(
        value, name("tenant_calls_per_second"), ServerLimits.tenantCallsPerSecondRange)
    }
    if let value = self.tenantCallBurst {
      limits.tenantCallBurst = try checked(value, name("tenant_call_burst"), ServerLimits.tenantCallBurstRange)
    }
    if let value = self.maxConnectionsPerKey {
      limits.maxConnectionsPerKey = try checked(value, name("max_connections_per_key"), 0...1_000_000)
    }
    if let value = self.maxConnectionsPerTenant {
      limits.maxConnectionsPerTenant = try checked(value, name("max_connections_per_tenant"), 0...1_000_000)
    }
    if let value = self.maxHandshakesPerAddress {
      limits.maxHandshakesPerAddress = try checked(value, name("max_handshakes_per_address"), 0...1_000_000)
    }
    if self.maxFramePayload != nil, self.maxHeldRequestBytes == nil {
      // The default keeps room for four messages of the largest size.
      limits.maxHeldRequestBytes = 4 * limits.maxFramePayload
    }
    if self.maxFramePayload != nil, self.frameTimeoutMs == nil {
      limits.frameTimeout = ServerLimits.defaultFrameTimeout(maxFramePayload: limits.maxFramePayload)
    }
    if let value = self.frameTimeoutMs {
      limits.frameTimeout = .milliseconds(try checked(value, name("frame_timeout_ms"), 1_000...86_400_000))
    }
    if let value = self.maxHeldRequestBytes {
      limits.maxHeldRequestBytes = try checked(
        value, name("max_held_request_bytes"), ServerLimits.maxHeldRequestBytesRange)
    }
    if let value = self.maxServerHeldRequestBytes {
      limits.maxServerHeldRequestBytes = try checked(
        value, name("max_server_held_request_bytes"), ServerLimits.maxServerHeldRequestBytesRange)
    }
  }
}
