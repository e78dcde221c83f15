import Foundation
import Logging
import TallyCore
public import TallyStore

/// A fresh database in the test cluster that `make test` starts (scripts/with-test-postgres).
public struct TestDatabase: Sendable {
  public let name: String
  public let ownerURL: String
  public let appURL: String

  public static let migrationsDirectory: String = {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent().appendingPathComponent("Migrations").path
  }()

  /// The repository's migrations whose file names sort before `name` (e.g. "0004"): a database
  /// as it was before a migration, to load data the migration must carry over.
  public static func migrations(before name: String) throws -> [Migrator.Migration] {
    try FileManager.default.contentsOfDirectory(atPath: migrationsDirectory).sorted().filter { $0 < name }.map {
      Migrator.Migration(
        version: Int($0.prefix(4))!, name: $0,
        sql: try String(contentsOfFile: migrationsDirectory + "/" + $0, encoding: .utf8))
    }
  }

  /// Stores an operator key (as `tallyd dev` does) and returns it.
  public func createOperatorKey(id: String = "testoperator") throws -> String {
    try Self.createOperatorKey(ownerURL: self.ownerURL, id: id)
  }

  /// A connection as the database's owner with the operator's reach (`tally.operator` on), for a
  /// test that changes rows by hand in SQL, past the API. The caller closes it.
  public static func operatorOwnerConnection(ownerURL: String) throws -> PostgresConnection {
    let owner = try PostgresConnection(conninfo: ownerURL)
    do {
      try owner.execute("SET tally.operator = 'on'")
    } catch {
      owner.close()
      throw error
    }
    return owner
  }

  /// Stores an operator key in the database at `ownerURL` and returns it.
  public static func createOperatorKey(ownerURL: String, id: String = "testoperator") throws -> String {
    let secret = "secret-\(UInt64.random(in: 0 ... .max))"
    let owner = try Self.operatorOwnerConnection(ownerURL: ownerURL)
    defer { owner.close() }
    try owner.query(
      "INSERT INTO operator_api_keys (key_id, name, secret_sha256) VALUES ($1, 'test', decode($2, 'base64'))",
      [id, Data(DatabaseAuthenticator.hash(secret: secret)).base64EncodedString()]
    )
    return APIKey(keyID: id, secret: secret).text
  }

  private static func environment(_ name: String) throws -> String {
    guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else {
      throw TestDatabaseError(
        description: "\(name) is not set: run the tests with `make test` (it starts a throwaway PostgreSQL)"
      )
    }
    return value
  }

  /// Creates an empty database owned by tally_owner, optionally migrated, off the cooperative pool
  /// (`onOwnThread`): dozens of suites create databases at once. `collation`: an LC_COLLATE other
  /// than the cluster's.
  public static func create(migrated: Bool = true, collation: String? = nil) async throws -> TestDatabase {
    try await onOwnThread { try Self.createBlocking(migrated: migrated, collation: collation) }
  }

  private static func createBlocking(migrated: Bool, collation: String?) throws -> TestDatabase {
    let superuser = try PostgresConnection(conninfo: try environment("TALLY_TEST_SUPERUSER_DATABASE_URL"))
    let name = "test_\(UInt64.random(in: 0 ... .max))"
    let locale = collation.map { " TEMPLATE template0 LC_COLLATE '\($0)'" } ?? ""
    try superuser.execute("CREATE DATABASE \(name) OWNER tally_owner\(locale)")
    try superuser.execute(
      "REVOKE ALL ON DATABASE \(name) FROM PUBLIC; GRANT CONNECT, TEMPORARY ON DATABASE \(name) TO tally_app")
    superuser.close()
    let database = TestDatabase(
      name: name,
      ownerURL: try Self.rename(try environment("TALLY_TEST_DATABASE_URL"), to: name),
      appURL: try Self.rename(try environment("TALLY_TEST_APP_DATABASE_URL"), to: name)
    )
    let owner = try PostgresConnection(conninfo: database.ownerURL)
    try owner.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC; GRANT USAGE ON SCHEMA public TO tally_app")
    if migrated { try Migrator(directory: migrationsDirectory).migrate(owner) }
    owner.close()
    return database
  }

  /// The same URL with another database name (`postgresql://user@/NAME?host=…`).
  private static func rename(_ url: String, to name: String) throws -> String {
    guard var components = URLComponents(string: url) else {
      throw TestDatabaseError(description: "not a postgresql:// URL: \(url)")
    }
    components.path = "/\(name)"
    guard let renamed = components.string else { throw TestDatabaseError(description: "cannot rename \(url)") }
    return renamed
  }

  /// Waits until a statement containing `text` runs in this database (seen by the superuser).
  public func waitUntilRunning(_ text: String, timeout: Duration = .seconds(30)) async throws {
    let superuser = try PostgresConnection(conninfo: try Self.environment("TALLY_TEST_SUPERUSER_DATABASE_URL"))
    defer { superuser.close() }
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
      let running = try superuser.query(
        "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = $1 AND state = 'active' AND query LIKE $2",
        [self.name, "%\(text)%"]
      ).rows[0].require(Int.self, "n")
      if running > 0 { return }
      try await Task.sleep(for: .milliseconds(10))
    }
    throw TestDatabaseError(description: "no statement with \(text) started in time")
  }

  public func pool(size: Int = 4, statementTimeout: Duration? = .seconds(300)) -> PostgresPool {
    var logger = Logger(label: "tally-test-store")
    logger.logLevel = .critical
    return PostgresPool(
      configuration: .init(conninfo: self.appURL, size: size, statementTimeout: statementTimeout), logger: logger)
  }
}

public struct TestDatabaseError: Error, CustomStringConvertible {
  public var description: String
}
