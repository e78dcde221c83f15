import Foundation

/// Applies `Migrations/NNNN_name.sql` files in order, each once and in its own transaction, under
/// an advisory lock so that two `tallyd migrate` at once never race (the second waits).
public struct Migrator: Sendable {
  /// One migration file.
  public struct Migration: Sendable, Hashable {
    public var version: Int
    public var name: String
    public var sql: String

    public init(version: Int, name: String, sql: String) {
      self.version = version
      self.name = name
      self.sql = sql
    }
  }

  /// Anything that stops migrating; says which file and what to do.
  public struct Failure: Error, CustomStringConvertible {
    public var description: String
  }

  /// Key of the advisory lock (arbitrary, fixed): "tally" in ASCII.
  static let lockKey: Int64 = 0x7461_6C6C_79

  public let migrations: [Migration]

  public init(migrations: [Migration]) {
    self.migrations = migrations.sorted { $0.version < $1.version }
  }

  /// Reads `NNNN_name.sql` files; refuses other names and repeated versions.
  public init(directory: String) throws {
    let names: [String]
    do {
      names = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".sql") }
    } catch {
      throw Failure(description: "cannot read the migrations directory \(directory): \(error.localizedDescription)")
    }
    var migrations: [Migration] = []
    for name in names {
      guard let underscore = name.firstIndex(of: "_"), let version = Int(name[..<underscore]), version > 0 else {
        throw Failure(description: "\(name): a migration file is named NNNN_description.sql")
      }
      guard !migrations.contains(where: { $0.version == version }) else {
        throw Failure(description: "\(name): another file already has version \(version)")
      }
      let sql = try String(contentsOfFile: "\(directory)/\(name)", encoding: .utf8)
      migrations.append(Migration(version: version, name: name, sql: sql))
    }
    self.init(migrations: migrations)
  }

  /// Applies what is missing; returns the names of the files it applied (empty when up to date).
  @discardableResult
  public func migrate(_ connection: PostgresConnection) throws -> [String] {
    try connection.query("SELECT pg_advisory_lock($1)", [Self.lockKey])
    defer { _ = try? connection.query("SELECT pg_advisory_unlock($1)", [Self.lockKey]) }
    try connection.execute(
      """
      CREATE TABLE IF NOT EXISTS tally_migrations (
        version integer PRIMARY KEY,
        name text NOT NULL,
        checksum text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )
      """
    )
    var applied: [Int: (name: String, checksum: String)] = [:]
    for row in try connection.query("SELECT version, name, checksum FROM tally_migrations").rows {
      applied[try row.require(Int.self, "version")] = (
        try row.require(String.self, "name"), try row.require(String.self, "checksum")
      )
    }
    // A database migrated by a newer tallyd: this build's queries do not know its schema (a rolled
    // back binary would write rows the newer triggers and columns expect otherwise).
    let known = Set(self.migrations.map(\.version))
    if let newer = applied.filter({ !known.contains($0.key) }).min(by: { $0.key < $1.key }) {
      throw Failure(
        description: """
          the database has migration \(newer.value.name), which this tallyd does not know: it was migrated by a \
          newer build; run that build (or a newer one), not this one
          """
      )
    }
    var done: [String] = []
    for migration in self.migrations {
      let checksum = try Self.checksum(of: migration.sql, connection)
      if let previous = applied[migration.version] {
        guard previous.checksum == checksum else {
          throw Failure(
            description: """
              \(migration.name) was changed after it was applied (checksum \(previous.checksum.prefix(12)) \
              in the database, \(checksum.prefix(12)) on disk): restore it and put the change in a new migration
              """
          )
        }
        continue
      }
      try connection.execute("BEGIN")
      do {
        try connection.execute(migration.sql)
        try connection.query(
          "INSERT INTO tally_migrations (version, name, checksum) VALUES ($1, $2, $3)",
          [migration.version, migration.name, checksum]
        )
        try connection.execute("COMMIT")
      } catch {
        try? connection.execute("ROLLBACK")
        throw Failure(description: "\(migration.name) failed and was rolled back: \(String(reflecting: error))")
      }
      done.append(migration.name)
    }
    return done
  }

  /// SHA-256 of the file's text, computed by PostgreSQL (no extension needed).
  static func checksum(of sql: String, _ connection: PostgresConnection) throws -> String {
    try connection.query("SELECT encode(sha256(convert_to($1, 'UTF8')), 'hex') AS sum", [sql]).rows[0]
      .require(String.self, "sum")
  }
}
