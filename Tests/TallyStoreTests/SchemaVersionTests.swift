import Foundation
import TallyStore
import TallyTestSupport
import Testing

/// A tallyd serves only the schema it was built for: a database migrated further (a rolled-back
/// binary) or not as far (no owner URL, old files) is refused at start, migrating or not.
@Suite struct SchemaVersionTests {
  /// The build's schema is the repository's last migration: a new file needs `latest` raised.
  @Test func theBuildsSchemaIsTheRepositorysLastMigration() throws {
    let migrator = try Migrator(directory: TestDatabase.migrationsDirectory)
    #expect(migrator.migrations.last?.version == SchemaVersion.latest)
    #expect(SchemaVersion.refusal(directory: "M", last: migrator.migrations.last) == nil)
    let older = SchemaVersion.refusal(
      directory: "M", last: Migrator.Migration(version: SchemaVersion.latest - 1, name: "0001_old.sql", sql: ""))
    #expect(older?.contains("the migrations in M end at 0001_old.sql") == true, "\(older ?? "")")
  }

  @Test func aDatabaseOfAnotherSchemaIsRefusedAsTheRuntimeRole() async throws {
    let database = try await TestDatabase.create(migrated: true)
    let app = try PostgresConnection(conninfo: database.appURL)
    let owner = try PostgresConnection(conninfo: database.ownerURL)
    #expect(try SchemaVersion.refusal(app) == nil)
    // Migrated by a newer build.
    try owner.query("INSERT INTO tally_migrations (version, name, checksum) VALUES (9999, '9999_next.sql', 'x')")
    let newer = try SchemaVersion.refusal(app)
    #expect(newer?.contains("has migration 9999_next.sql, which this tallyd does not know") == true, "\(newer ?? "")")
    // Not migrated as far as this build: the last one missing, then every one since the grant.
    try owner.query("DELETE FROM tally_migrations WHERE version >= $1", [SchemaVersion.latest])
    let behind = try SchemaVersion.refusal(app)
    #expect(behind?.contains("needs migration \(SchemaVersion.latest)") == true, "\(behind ?? "")")
    try owner.execute("DROP FUNCTION tally_last_migration()")
    let unreadable = try SchemaVersion.refusal(app)
    #expect(unreadable?.contains("a migration before 0027") == true, "\(unreadable ?? "")")
  }
}
