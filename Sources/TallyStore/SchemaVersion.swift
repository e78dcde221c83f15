/// The migrations this build's statements are written for. `tallyd serve` and `tallyd dev` refuse,
/// at start, a database with others, whether they migrate it or not; `tallyd migrate` refuses a
/// migrations directory that ends elsewhere.
public enum SchemaVersion {
  /// The last migration this build knows (`Migrations/NNNN_…`); a test keeps it the directory's last.
  public static let latest = 29

  /// Why this build must not serve the database `connection` reaches as the runtime role, or nil.
  public static func refusal(_ connection: PostgresConnection) throws -> String? {
    let row: PostgresRow
    do {
      row = try connection.query("SELECT version, name FROM tally_last_migration()").rows[0]
    } catch let error as PostgresError where error.sqlState == "42883" || error.sqlState == "42501" {
      // No such function, or not the runtime role's: a database from before migration 0027.
      return Self.behind("a migration before 0027")
    }
    let version = try row.decode(Int.self, "version") ?? 0
    let name = try row.decode(String.self, "name") ?? "none"
    if version > Self.latest {
      return """
        the database has migration \(name), which this tallyd does not know: it was migrated by a newer \
        build; run that build (or a newer one), not this one
        """
    }
    return version < Self.latest ? Self.behind(name) : nil
  }

  /// Why a migrations directory whose last file is `last` is not this build's, or nil.
  public static func refusal(directory: String, last: Migrator.Migration?) -> String? {
    guard last?.version != Self.latest else { return nil }
    return """
      the migrations in \(directory) end at \(last?.name ?? "none"), and this tallyd's schema at migration \(Self.latest): \
      install this build's Migrations directory (the files of another build would give its schema)
      """
  }

  private static func behind(_ name: String) -> String {
    """
    the database's last migration is \(name), and this tallyd needs migration \(Self.latest): run this \
    build's tallyd migrate (or serve with database.owner_url, which migrates at start)
    """
  }
}
