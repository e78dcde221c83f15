import ArgumentParser
import Foundation
import Logging
import TallyCore
import TallyProto
import TallyServer
import TallyStore
import TallyWire

/// A development server with everything made for it: certificates, keys, and a profile the CLI reads.
struct Dev: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Start a development server on loopback, with its own CA, certificate and keys.",
    discussion: """
      With no --database-url, runs an embedded PostgreSQL in DIR/pg (as the postgres user when
      started as root), migrates it, and creates an operator key, a demo tenant and its admin key.
      Writes DIR/dev.json (endpoint, ca_cert, operator_api_key, tenant_id, tenant_api_key,
      database_url) and a copy at ~/.config/tally/dev.json, which the tally CLI uses when no
      other profile is given. A second run on the same directory reuses the cluster and keys.
      """
  )

  @Option(help: "Where the certificates, keys and dev.json live.")
  var dataDir: String = ".dev"

  @Option(help: "The loopback port to listen on.")
  var port: Int = 7443

  @Option(help: "The loopback port of Prometheus's GET /metrics (0: not served).")
  var metricsPort: Int = 9464

  @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
  var logLevel: String = "info"

  @Option(help: "Use this database (runtime role URL) instead of the embedded one.")
  var databaseURL: String?

  @Option(help: "With --database-url: the owner role's URL, for migrations.")
  var ownerURL: String?

  @Flag(help: "Do not apply missing migrations at start.")
  var noMigrate = false

  @Option(help: "Calls per second one tenant may start (0: not limited); default: serve's.")
  var tenantCallsPerSecond: Int?

  @Option(help: "Calls one tenant may start at once above that rate; default: serve's.")
  var tenantCallBurst: Int?

  @Option(help: "Connections one API key may hold open (0: not limited); default: serve's.")
  var maxConnectionsPerKey: Int?

  @Option(help: "Connections one tenant's keys may hold open together (0: not limited); default: serve's.")
  var maxConnectionsPerTenant: Int?

  @Option(help: "Connections from one address still before HELLO (0: not limited); default: serve's.")
  var maxHandshakesPerAddress: Int?

  func validate() throws {
    guard (1...65535).contains(self.port) else { throw ValidationError("--port must be 1...65535, got \(self.port)") }
    guard (0...65535).contains(self.metricsPort), self.metricsPort != self.port else {
      throw ValidationError("--metrics-port must be 0 (off) or 1...65535 and not --port, got \(self.metricsPort)")
    }
    guard ServeConfiguration.logLevels.contains(self.logLevel.lowercased()) else {
      throw ValidationError(
        "--log-level must be one of \(ServeConfiguration.logLevels.joined(separator: ", ")), got \"\(self.logLevel.prefix(40))\""
      )
    }
    if self.ownerURL != nil, self.databaseURL == nil {
      throw ValidationError("--owner-url is for --database-url's database: the embedded one migrates as its own owner")
    }
    _ = try self.limits()
  }

  /// The server's defaults with the limits given on the command line, checked as serve's file is.
  private func limits() throws -> ServerLimits {
    var settings = ServeConfiguration.Limits()
    settings.tenantCallsPerSecond = self.tenantCallsPerSecond
    settings.tenantCallBurst = self.tenantCallBurst
    settings.maxConnectionsPerKey = self.maxConnectionsPerKey
    settings.maxConnectionsPerTenant = self.maxConnectionsPerTenant
    settings.maxHandshakesPerAddress = self.maxHandshakesPerAddress
    var limits = ServerLimits()
    try settings.apply(to: &limits, asFlags: true)
    return limits
  }

  func run() async throws {
    let startupSignals = StartupSignals()
    let logger = makeLogger(level: self.logLevel)
    let directory = URL(fileURLWithPath: self.dataDir).standardizedFileURL.path
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    let lock = try DevDirectoryLock(directory: directory)
    defer { withExtendedLifetime(lock) {} }
    let certificates = try DevelopmentCertificates.ensure(in: "\(directory)/tls")

    let (appURL, ownerURL) = try self.database(directory: directory, logger: logger)
    // Ctrl-C, or a failure from here on, leaves nothing running: the embedded cluster stops with
    // the server (and restarts in a second). Registered first, it runs after the pool's close.
    defer { if self.databaseURL == nil { try? EmbeddedPostgres(directory: directory).stop() } }
    if self.databaseURL != nil, self.ownerURL == nil, !self.noMigrate {
      logger.notice("--database-url without --owner-url: no migrations applied (tallyd migrate applies them)")
    }
    if let ownerURL, !self.noMigrate {
      try migrate(ownerURL: ownerURL, directory: Migrate.migrationsDirectory(nil), logger: logger)
    }
    let pool = PostgresPool(configuration: .init(conninfo: appURL), logger: logger)
    defer { pool.close() }
    try await refuseUnlessFitToServe(pool)
    await warnUnlessTextComparesAsBytes(pool, logger: logger)
    let authenticator = DatabaseAuthenticator(pool: pool)
    let sealingKeys = AnswerSealingKeys(current: try .loadOrCreate(path: "\(directory)/answer-sealing.key"))

    let profilePath = "\(directory)/dev.json"
    var profile = try await DevProfile.loadOrBootstrap(path: profilePath, pool: pool, authenticator: authenticator)
    profile.endpoint = "127.0.0.1:\(self.port)"
    profile.caCert = certificates.caCertificatePath
    profile.databaseURL = appURL
    try profile.write(to: profilePath)
    if let userProfile = DevProfile.userProfilePath() {
      try? FileManager.default.createDirectory(
        atPath: (userProfile as NSString).deletingLastPathComponent,
        withIntermediateDirectories: true
      )
      try? profile.write(to: userProfile)
    }
    logger.info(
      "development profile written", metadata: ["profile": "\(profilePath)", "tenant_id": "\(profile.tenantID)"])
    // Stopped while starting: the cluster stops with the defers above, and no server starts.
    guard !startupSignals.finish() else { return logger.notice("stopped by a signal while starting") }
    try await serve(
      configuration: ServerConfiguration(
        host: "127.0.0.1",
        port: self.port,
        tls: .init(
          certificateChainPath: certificates.serverCertificatePath,
          privateKeyPath: certificates.serverKeyPath
        ),
        limits: try self.limits()
      ),
      authenticator: authenticator,
      database: (pool, sealingKeys),
      metrics: self.metricsPort == 0 ? nil : MetricsEndpoint.Configuration(port: self.metricsPort),
      metricsOptional: true,
      logger: logger
    )
  }

  /// The runtime and owner URLs: the given database, or the embedded cluster in DIR/pg.
  private func database(directory: String, logger: Logger) throws -> (app: String, owner: String?) {
    if let databaseURL { return (databaseURL, self.ownerURL) }
    let endpoints = try EmbeddedPostgres(directory: directory).start()
    logger.info("embedded PostgreSQL running", metadata: ["socket": "\(endpoints.socketDirectory)"])
    return (endpoints.appURL, endpoints.ownerURL)
  }
}

/// `dev.json`: what a client needs to reach the development server.
struct DevProfile: Codable {
  var endpoint = ""
  var caCert = ""
  var operatorAPIKey: String
  var tenantID: String
  var tenantAPIKey: String
  var databaseURL = ""

  enum CodingKeys: String, CodingKey {
    case endpoint
    case caCert = "ca_cert"
    case operatorAPIKey = "operator_api_key"
    case tenantID = "tenant_id"
    case tenantAPIKey = "tenant_api_key"
    case databaseURL = "database_url"
  }

  /// The profile on disk when its keys still work; otherwise new keys and a demo tenant. The
  /// operator key is kept while it works (a new one left the old one working, and forgotten), and
  /// only a key the database refuses is replaced: a failed look-up (the database restarting, say)
  /// stops the start instead.
  static func loadOrBootstrap(path: String, pool: PostgresPool, authenticator: DatabaseAuthenticator) async throws
    -> DevProfile
  {
    func works(_ key: String) async throws -> Bool {
      do {
        _ = try await authenticator.authenticate(apiKey: key)
        return true
      } catch let error as RPCError where [.unauthenticated, .permissionDenied].contains(error.code) {
        return false
      }
    }
    let stored = FileManager.default.contents(atPath: path).flatMap {
      try? JSONDecoder().decode(DevProfile.self, from: $0)
    }
    var kept: String?
    if let stored, try await works(stored.operatorAPIKey) {
      if try await works(stored.tenantAPIKey) { return stored }
      kept = stored.operatorAPIKey
    }
    let bootstrap = Bootstrap(pool: pool)
    let operatorAPIKey: String
    if let kept {
      operatorAPIKey = kept
    } else {
      operatorAPIKey = try await bootstrap.operatorKey(name: "tallyd dev operator")
    }
    let tenantID = try await bootstrap.tenant(name: "Demo client", currency: "EUR")
    let tenantAPIKey = try await bootstrap.tenantKey(
      tenantID: tenantID,
      name: "tallyd dev demo admin",
      scopes: ["admin", "write", "read"]
    )
    return DevProfile(operatorAPIKey: operatorAPIKey, tenantID: tenantID, tenantAPIKey: tenantAPIKey)
  }

  func write(to path: String) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    try writeOwnerOnly(try encoder.encode(self), to: path)  // it holds the operator's key
  }

  /// `$XDG_CONFIG_HOME/tally/dev.json`, or `~/.config/tally/dev.json`.
  static func userProfilePath() -> String? {
    let environment = ProcessInfo.processInfo.environment
    if let config = environment["XDG_CONFIG_HOME"], !config.isEmpty { return "\(config)/tally/dev.json" }
    guard let home = environment["HOME"], !home.isEmpty else { return nil }
    return "\(home)/.config/tally/dev.json"
  }
}

/// Writes `data` to `path` readable by its owner from its first byte, then renamed into place:
/// written first and narrowed after (as `FileManager.createFile`'s attributes do), a secret was
/// readable by all for a moment.
func writeOwnerOnly(_ data: Data, to path: String) throws {
  let temporary = path + ".tmp"
  unlink(temporary)
  let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL, 0o600)
  guard descriptor >= 0 else { throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: temporary]) }
  let handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
  try handle.write(contentsOf: data)
  try handle.close()
  guard rename(temporary, path) == 0 else {
    throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
  }
}

extension AnswerSealingKey {
  /// The development server's key: the one in `path`, or a new one written there (mode 0600), so
  /// that answers sealed before a restart still open after it.
  static func loadOrCreate(path: String) throws -> AnswerSealingKey {
    if FileManager.default.fileExists(atPath: path) { return try AnswerSealingKey(contentsOfFile: path) }
    let key = AnswerSealingKey.random()
    do {
      try writeOwnerOnly(Data((key.hex + "\n").utf8), to: path)
    } catch {
      throw ServerConfigurationError("cannot write the answer-sealing key file \(path)")
    }
    return key
  }
}
