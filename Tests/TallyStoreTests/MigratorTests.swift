import Foundation
import TallyStore
import TallyTestSupport
import Testing

@Suite struct MigratorTests {
  private let first = Migrator.Migration(version: 1, name: "0001_a.sql", sql: "CREATE TABLE a (x int)")
  private let second = Migrator.Migration(version: 2, name: "0002_b.sql", sql: "CREATE TABLE b (x int)")

  @Test func freshThenRerunIsANoOp() throws {
    let database = try TestDatabase.create(migrated: false)
    let connection = try PostgresConnection(conninfo: database.ownerURL)
    #expect(try Migrator(migrations: [self.second, self.first]).migrate(connection) == ["0001_a.sql", "0002_b.sql"])
    #expect(try Migrator(migrations: [self.first, self.second]).migrate(connection) == [])
    let versions = try connection.query("SELECT version FROM tally_migrations ORDER BY version").rows
    #expect(try versions.map { try $0.require(Int.self, "version") } == [1, 2])
  }

  @Test func theRepositoryMigrationsApplyFromScratch() throws {
    let database = try TestDatabase.create(migrated: false)
    let connection = try PostgresConnection(conninfo: database.ownerURL)
    let applied = try Migrator(directory: TestDatabase.migrationsDirectory).migrate(connection)
    #expect(applied.first == "0001_tenants_and_api_keys.sql")
  }

  @Test func aChangedFileThatWasAppliedIsRefused() throws {
    let database = try TestDatabase.create(migrated: false)
    let connection = try PostgresConnection(conninfo: database.ownerURL)
    try Migrator(migrations: [self.first]).migrate(connection)
    var tampered = self.first
    tampered.sql += " -- edited"
    #expect(throws: Migrator.Failure.self) { try Migrator(migrations: [tampered]).migrate(connection) }
    do {
      try Migrator(migrations: [tampered]).migrate(connection)
    } catch let failure as Migrator.Failure {
      #expect(failure.description.contains("0001_a.sql was changed after it was applied"))
    }
  }

  @Test func aFailingMigrationLeavesNothingBehind() throws {
    let database = try TestDatabase.create(migrated: false)
    let connection = try PostgresConnection(conninfo: database.ownerURL)
    let broken = Migrator.Migration(version: 3, name: "0003_c.sql", sql: "CREATE TABLE c (x int); SELECT 1/0;")
    #expect(throws: Migrator.Failure.self) { try Migrator(migrations: [self.first, broken]).migrate(connection) }
    let tables = try connection.query(
      "SELECT to_regclass('c') IS NULL AS gone, (SELECT count(*) FROM tally_migrations) AS n"
    ).rows[0]
    #expect(try tables.require(Bool.self, "gone"))
    #expect(try tables.require(Int.self, "n") == 1)
  }

  @Test func twoMigratorsAtOnceApplyEachFileOnce() async throws {
    let database = try TestDatabase.create(migrated: false)
    let slow = Migrator.Migration(
      version: 1, name: "0001_slow.sql", sql: "SELECT pg_sleep(0.5); CREATE TABLE slow (x int)")
    let migrator = Migrator(migrations: [slow])
    let results = try await withThrowingTaskGroup(of: [String].self) { group in
      for _ in 0..<2 {
        group.addTask {
          let connection = try PostgresConnection(conninfo: database.ownerURL)
          return try migrator.migrate(connection)
        }
      }
      var results: [[String]] = []
      for try await result in group { results.append(result) }
      return results
    }
    // One applied the file; the other waited for the lock, then found nothing to do.
    #expect(results.sorted { $0.count < $1.count } == [[], ["0001_slow.sql"]])
  }
}
