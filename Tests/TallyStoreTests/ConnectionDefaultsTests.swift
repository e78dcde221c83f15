import TallyStore
import TallyTestSupport
import Testing

/// libpq's client-side limits, which tallyd sets unless the database URL does.
@Suite struct ConnectionDefaultsTests {
  @Test func keepalivesAndTimeoutsAreSetAndTheURLsOwnValuesWin() async throws {
    let database = try await TestDatabase.create(migrated: false)
    let separator = database.appURL.contains("?") ? "&" : "?"
    let (defaults, chosen) = try await onOwnThread {
      let plain = try PostgresConnection(conninfo: database.appURL)
      defer { plain.close() }
      let own = try PostgresConnection(conninfo: database.appURL + separator + "keepalives_idle=5&connect_timeout=3")
      defer { own.close() }
      let keywords = PostgresConnection.connectionDefaults.map(\.key)
      return (keywords.map { plain.option($0) }, [own.option("keepalives_idle"), own.option("connect_timeout")])
    }
    #expect(defaults == PostgresConnection.connectionDefaults.map(\.value))
    #expect(chosen == ["5", "3"])
  }
}
