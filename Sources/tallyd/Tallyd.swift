import ArgumentParser
import Foundation
import Logging
import Prometheus
import ServiceLifecycle
import TallyCore
import TallyServer
import TallyStore
import UnixSignals

/// `tallyd`: the Tally server.
@main
struct Tallyd: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "tallyd",
    abstract: "The Tally server: ABM data, KPIs and surveys over the Tally wire protocol.",
    version: tallyServerVersion,
    subcommands: [Serve.self, Dev.self, Migrate.self, OperatorKey.self, Database.self, KpiSQLCommand.self]
  )
}

/// Serves with the settings of a configuration file until SIGTERM or SIGINT.
struct Serve: AsyncParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Serve with the settings of a configuration file.")

  @Option(help: "The JSON configuration file (see deploy/tallyd.example.json).")
  var config: String

  @Flag(help: "Do not apply missing migrations at start.")
  var noMigrate = false

  func run() async throws {
    let file = try ServeConfiguration.load(path: self.config)
    let logger = makeLogger(level: file.logLevel)
    let configuration = try file.serverConfiguration()
    // The TLS files and the listening address checked before any migration runs.
    try TallyServer.checkTLS(of: configuration)
    let metrics = try file.metricsConfiguration()
    guard let database = file.database else {
      return try await serve(
        configuration: configuration, authenticator: try file.authenticator(), metrics: metrics, logger: logger)
    }
    // The keys first: a server that cannot seal answers must not migrate and then fail to start.
    let sealingKeys = try file.answerSealingKeys()
    for path in [file.answerSealingKeyFile].compactMap({ $0 }) + file.previousAnswerSealingKeyFiles {
      warnIfOthersMayRead(path, logger: logger)
    }
    if !self.noMigrate, let ownerURL = database.ownerUrl {
      let directory = try Migrate.migrationsDirectory(
        database.migrations, setting: "database.migrations in \(self.config) (the repository's Migrations/)")
      try migrate(ownerURL: ownerURL, directory: directory, logger: logger)
    }
    let pool = PostgresPool(configuration: .init(conninfo: database.url, size: database.poolSize), logger: logger)
    defer { pool.close() }
    try await refuseUnlessFitToServe(pool)
    await warnUnlessTextComparesAsBytes(pool, logger: logger)
    try await serve(
      configuration: configuration, authenticator: DatabaseAuthenticator(pool: pool),
      database: (pool, sealingKeys), metrics: metrics, logger: logger)
  }
}

/// A connection to `url`, or the reason there is none in libpq's words (refused, no such host,
/// password failed): a `PostgresError`'s description names only its SQLSTATE, none for these.
func connect(_ url: String, named setting: String) throws -> PostgresConnection {
  do {
    return try PostgresConnection(conninfo: url)
  } catch let error as PostgresError where error.sqlState == nil {
    throw ServerConfigurationError("cannot connect with \(setting): \(error.message)")
  }
}

/// Refuses to serve through a role that row-level security does not hold to (`RuntimeRole`): a
/// `database.url` naming the owner role, say, would show every tenant's surveys to any read key;
/// and a schema other than this build's (`SchemaVersion`), migrated here or not.
func refuseUnlessFitToServe(_ pool: PostgresPool) async throws {
  let refusal = try await pool.withConnection { try RuntimeRole(of: $0).refusal ?? SchemaVersion.refusal($0) }
  if let refusal { throw ServerConfigurationError(refusal) }
}

/// A database whose collation is not C slows every text index write and sort (`DatabaseCollation`),
/// so the server says so once at start.
func warnUnlessTextComparesAsBytes(_ pool: PostgresPool, logger: Logger) async {
  do {
    let collation = try await pool.withConnection { try DatabaseCollation(of: $0) }
    guard !collation.comparesTextAsBytes else { return }
    logger.warning(
      "the database's LC_COLLATE is not C, so text indexes and sorts are slower; see deploy/README.md",
      metadata: ["lc_collate": "\(collation)"])
  } catch {
    logger.warning("could not read the database's collation", metadata: ["error": "\(error)"])
  }
}

/// The answer-sealing key guards anonymity against whoever reads the database: a key file that
/// its group or others may read is worth a warning at every start.
func warnIfOthersMayRead(_ path: String, logger: Logger) {
  guard let mode = (try? FileManager.default.attributesOfItem(atPath: path))?[.posixPermissions] as? Int,
    mode & 0o077 != 0
  else { return }
  logger.warning(
    "the answer-sealing key file may be read by other users than its owner; chmod 600 it",
    metadata: ["file": "\(path)", "mode": "\(String(mode, radix: 8))"])
}

/// Applies missing migrations as the owner role.
func migrate(ownerURL: String, directory: String, logger: Logger) throws {
  let applied = try migrate(ownerURL, named: "the owner role's database URL", directory: directory)
  logger.info("migrations", metadata: ["applied": "\(applied.isEmpty ? "none" : applied.joined(separator: ", "))"])
}

/// Applies the missing migrations of `directory`, which must end at this build's schema.
func migrate(_ url: String, named setting: String, directory: String) throws -> [String] {
  let migrator = try Migrator(directory: directory)
  if let refusal = SchemaVersion.refusal(directory: directory, last: migrator.migrations.last) {
    throw ServerConfigurationError(refusal)
  }
  let connection = try connect(url, named: setting)
  defer { connection.close() }
  return try migrator.migrate(connection)
}

/// Builds the router and runs the server in a service group that turns SIGTERM/SIGINT into a graceful shutdown.
/// `metrics`: where to serve Prometheus's `/metrics`, if anywhere; `metricsOptional`: the server
/// runs on without them when that address is taken (`tallyd dev`, whose port is not chosen).
func serve(
  configuration: ServerConfiguration,
  authenticator: any Authenticator,
  database: (pool: PostgresPool, sealingKeys: AnswerSealingKeys)? = nil,
  metrics metricsEndpoint: MetricsEndpoint.Configuration? = nil,
  metricsOptional: Bool = false,
  logger: Logger
) async throws {
  let pool = database?.pool
  var router = Router()
  SystemService(limits: configuration.limits).register(into: &router)
  var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
  var beforeServer: [ServiceGroupConfiguration.ServiceConfiguration] = []
  let registry = PrometheusCollectorRegistry()
  var keyChangeFeed: KeyChangeFeed?
  if let (pool, sealingKeys) = database {
    // Every tallyd of a database needs the same key: the fingerprints let an operator compare.
    logger.info(
      "answer-sealing keys",
      metadata: [
        "sealing": "\(sealingKeys.current.fingerprint)",
        "previous": "\(sealingKeys.previous.map(\.fingerprint).joined(separator: ","))",
      ])
    let keyChecks = authenticator as? DatabaseAuthenticator
    AdminService(pool: pool, keyChanges: { keyChecks?.forget($0) }).register(into: &router)
    if let keyChecks {
      let feed = KeyChangeFeed(conninfo: pool.conninfo, authenticator: keyChecks, logger: logger)
      services.append(.init(service: KeyChangeListener(feed: feed)))
      keyChangeFeed = feed
    }
    ABMDataServices(pool: pool, ingestCounters: IngestCounters(registry: registry)).register(into: &router)
    SurveyService(pool: pool, sealingKeys: sealingKeys).register(into: &router)
    KpiService(pool: pool).register(into: &router)
    router.replayRepeatedWrites(IdempotentCalls(pool: pool))
    services.append(.init(service: DatabaseMaintenance(pool: pool, logger: logger)))
    let unopenedRounds = registry.makeGauge(
      descriptor: .tally(
        "sealed_rounds_unopened",
        help: "Closed survey rounds whose sealed answers did not open at the last pass that ran (see the log)."))
    services.append(
      .init(
        service: SurveyRoundsTimer(pool: pool, sealingKeys: sealingKeys, unopenedRounds: unopenedRounds, logger: logger)
      ))
  }
  let metrics = ServerMetrics(methodNames: router.methodNames, registry: registry)
  let server = TallyServer(
    configuration: configuration,
    router: router,
    authenticator: authenticator,
    logger: logger,
    metrics: metrics
  )
  if let metricsEndpoint {
    let poolMetrics = pool.map { DatabasePoolMetrics(pool: $0, registry: registry, keyChanges: keyChangeFeed) }
    let endpoint = MetricsEndpoint(configuration: metricsEndpoint, metrics: metrics, logger: logger) {
      poolMetrics?.update()
    }
    // Before the server: the group stops its services in reverse order, so the endpoint still
    // answers while the server drains.
    beforeServer.append(.init(service: endpoint, failureTerminationBehavior: metricsOptional ? .ignore : .cancelGroup))
  }
  if let pool { services.append(.init(service: TenantCallRateRefresh(pool: pool, server: server, logger: logger))) }
  // The server last: the group stops its services in reverse order, one at a time, so SIGTERM
  // reaches the server first and its GOAWAY goes out at once, not after a maintenance pass that
  // may wait on a lock for minutes. The whole stop is bounded past the server's own grace period.
  var group = ServiceGroupConfiguration(
    services: beforeServer + services + [.init(service: server)],
    gracefulShutdownSignals: [.sigterm, .sigint],
    logger: logger
  )
  group.maximumGracefulShutdownDuration = configuration.shutdownGracePeriod + .seconds(10)
  try await ServiceGroup(configuration: group).run()
}

func makeLogger(level: String) -> Logger {
  LoggingSystem.bootstrap { label in StreamLogHandler.standardError(label: label) }
  var logger = Logger(label: "tallyd")
  logger.logLevel = Logger.Level(rawValue: level.lowercased()) ?? .info
  return logger
}
