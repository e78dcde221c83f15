import Foundation
import Logging
import Synchronization
import TallyStore
import TallyTestSupport
import Testing

/// The listener against a real database, with migration 0029's triggers as the sender: every
/// committed revocation, deletion and status change arrives once, nothing rolled back does, and a
/// lost connection is reported as a gap and listened again.
@Suite struct PostgresNotificationListenerTests {
  final class Heard: Sendable {
    let state = Mutex((payloads: [String](), gaps: 0))
    var payloads: [String] { self.state.withLock { $0.payloads } }
    var gaps: Int { self.state.withLock { $0.gaps } }
  }

  /// A listener on `tally_key_changes` running on a thread of its own until the body returns.
  static func listening(
    to database: TestDatabase, _ body: (PostgresNotificationListener, Heard) async throws -> Void
  ) async throws {
    let heard = Heard()
    var logger = Logger(label: "listener-test")
    logger.logLevel = .critical
    let listener = PostgresNotificationListener(
      configuration: .init(conninfo: database.appURL, channel: "tally_key_changes"), logger: logger,
      onPayload: { payload in heard.state.withLock { $0.payloads.append(payload) } },
      onGap: { heard.state.withLock { $0.gaps += 1 } })
    let finished = Mutex(false)
    Thread {
      listener.run()
      finished.withLock { $0 = true }
    }.start()
    #expect(try await waitUntil(timeout: .seconds(30)) { listener.isListening })
    do {
      try await body(listener, heard)
    } catch {
      listener.stop()
      throw error
    }
    listener.stop()
    #expect(try await waitUntil(timeout: .seconds(10)) { finished.withLock { $0 } }, "stop() did not end run()")
  }

  @Test func keyAndTenantChangesArriveOnceTheyCommit() async throws {
    let database = try await TestDatabase.create()
    _ = try database.createOperatorKey(id: "opkey")
    let owner = try TestDatabase.operatorOwnerConnection(ownerURL: database.ownerURL)
    defer { owner.close() }
    let tenant = try owner.query(
      "INSERT INTO tenants (tenant_id, name, currency) VALUES (gen_random_uuid(), 'T', 'EUR') RETURNING tenant_id::text AS id"
    ).rows[0].require(String.self, "id")
    try owner.query(
      """
      INSERT INTO api_keys (tenant_id, key_id, name, scopes, secret_sha256)
      VALUES ($1::uuid, 'tkey', 'k', '{read}', decode(repeat('00', 32), 'hex'))
      """, [tenant])
    try await Self.listening(to: database) { _, heard in
      #expect(heard.gaps == 1, "the first LISTEN is a gap: what came before it was not heard")
      try owner.execute("BEGIN; UPDATE api_keys SET revoked_at = now() WHERE key_id = 'tkey'; ROLLBACK")
      try owner.execute("UPDATE api_keys SET revoked_at = now() WHERE key_id = 'tkey'")
      try owner.execute("UPDATE operator_api_keys SET revoked_at = now() WHERE key_id = 'opkey'")
      try owner.query("UPDATE tenants SET name = 'renamed' WHERE tenant_id = $1::uuid", [tenant])
      try owner.query("UPDATE tenants SET status = 'suspended' WHERE tenant_id = $1::uuid", [tenant])
      try owner.execute("DELETE FROM api_keys WHERE key_id = 'tkey'")
      // A session's notifications arrive in its commits' order: the marker comes last.
      try owner.execute("NOTIFY tally_key_changes, 'marker'")
      #expect(try await waitUntil(timeout: .seconds(20)) { heard.payloads.last == "marker" })
      #expect(heard.payloads == ["key:tkey", "key:opkey", "tenant:\(tenant)", "key:tkey", "marker"])
    }
  }

  @Test func aLostConnectionIsAGapAndListeningResumes() async throws {
    let database = try await TestDatabase.create()
    try await Self.listening(to: database) { listener, heard in
      #expect(try terminateListeners(on: "tally_key_changes", in: database.appURL) == 1)
      #expect(try await waitUntil(timeout: .seconds(30)) { heard.gaps >= 2 && listener.isListening })
      let app = try PostgresConnection(conninfo: database.appURL)
      defer { app.close() }
      try app.execute("NOTIFY tally_key_changes, 'after'")
      #expect(try await waitUntil(timeout: .seconds(20)) { heard.payloads == ["after"] })
    }
  }
}
