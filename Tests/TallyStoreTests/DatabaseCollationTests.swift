import TallyStore
import TallyTestSupport
import Testing

/// `DatabaseCollation`, which tallyd reads at start to warn about a database whose text does not
/// compare as bytes.
@Suite struct DatabaseCollationTests {
  @Test func theTestClusterComparesTextAsBytesAndAnotherCollationIsSeen() async throws {
    let ours = try await TestDatabase.create(migrated: false)
    let other = try await TestDatabase.create(migrated: false, collation: "C.UTF-8")
    let (oursCollation, otherCollation) = try await onOwnThread {
      let first = try PostgresConnection(conninfo: ours.appURL)
      defer { first.close() }
      let second = try PostgresConnection(conninfo: other.appURL)
      defer { second.close() }
      return (try DatabaseCollation(of: first), try DatabaseCollation(of: second))
    }
    #expect(oursCollation == DatabaseCollation(name: "C"))
    #expect(oursCollation.comparesTextAsBytes)
    #expect(otherCollation == DatabaseCollation(name: "C.UTF-8"))
    #expect(!otherCollation.comparesTextAsBytes)
    #expect(DatabaseCollation(name: "POSIX").comparesTextAsBytes)
    #expect(!DatabaseCollation(name: "en_US.UTF-8").comparesTextAsBytes)
  }
}
