import Foundation
import Logging
import TallyClient
import TallyCore
import TallyProto
import TallyStore
import TallyTestSupport
import TallyWire
import Testing

/// A key revoked, or its tenant suspended, is refused at its next call (DESIGN), however long the
/// authenticator would keep its pass: these servers keep a pass for 10 minutes, so only the
/// revocation's own news (AdminService on this server, the database's notification for any
/// other way) can end it in time.
@Suite struct KeyChangeTests {
  struct Context {
    let server: TestServer
    let operatorClient: TallyClient
    let ownerURL: String
    /// The runtime role's, which may end the feed's backend (its own role's).
    let appURL: String
    let feed: KeyChangeFeed
  }

  /// `listening`: whether the database's notifications reach the server (the API's own changes
  /// are tested without them, so that only AdminService's word can end the pass).
  static func with(listening: Bool = true, _ body: (Context) async throws -> Void) async throws {
    let database = try await TestDatabase.create()
    let pool = database.pool()
    defer { pool.close() }
    let operatorKey = try database.createOperatorKey()
    let authenticator = DatabaseAuthenticator(pool: pool, recheckInterval: .seconds(600))
    let admin = AdminService(pool: pool, keyChanges: { authenticator.forget($0) })
    var logger = Logger(label: "key-change-test")
    logger.logLevel = .critical
    let feed = KeyChangeFeed(conninfo: database.appURL, authenticator: authenticator, logger: logger)
    let listener = Task { if listening { await feed.run() } }
    defer { listener.cancel() }
    if listening {
      #expect(try await waitUntil(timeout: .seconds(30)) { feed.listener.isListening }, "the feed never listened")
    }
    func register(_ router: inout Router) { admin.register(into: &router) }
    try await TestServer.with(authenticator: authenticator, services: register) { server, _ in
      let operatorClient = try server.client(apiKey: operatorKey)
      let context = Context(
        server: server, operatorClient: operatorClient, ownerURL: database.ownerURL, appURL: database.appURL,
        feed: feed)
      do {
        try await body(context)
      } catch {
        await operatorClient.close()
        throw error
      }
      await operatorClient.close()
    }
    listener.cancel()
    await listener.value
  }

  /// A tenant and an admin key of it, connected, its first call passed (so its pass is cached).
  static func tenantKey(_ context: Context) async throws -> (tenantID: String, keyID: String, client: TallyClient) {
    var tenant = Tally_V1_CreateTenantRequest()
    (tenant.name, tenant.currency) = ("Tenant", "EUR")
    let tenantID = try await context.operatorClient.unary(AdminMethods.createTenant, tenant).tenantID
    var create = Tally_V1_CreateApiKeyRequest()
    (create.tenantID, create.name, create.scopes) = (tenantID, "admin", ["admin"])
    let key = try await context.operatorClient.unary(AdminMethods.createApiKey, create).key
    let client = try context.server.client(apiKey: key)
    _ = try await client.unary(AdminMethods.listApiKeys, Tally_V1_ListApiKeysRequest())
    return (tenantID, try #require(APIKey(parsing: key)).keyID, client)
  }

  /// Whether the client's next calls are refused with `code` within `timeout`.
  static func refused(_ client: TallyClient, _ code: RPCError.Code, within timeout: Duration) async throws -> Bool {
    try await waitUntil(
      timeout: timeout, every: .milliseconds(50),
      asking: {
        do {
          _ = try await client.unary(SystemMethods.ping, Tally_V1_PingRequest())
          return false
        } catch let error as RPCError {
          return error.code == code
        }
      })
  }

  @Test func aKeyRevokedThroughTheAPIIsRefusedAtItsVeryNextCall() async throws {
    try await Self.with(listening: false) { context in
      let (_, keyID, client) = try await Self.tenantKey(context)
      var revoke = Tally_V1_RevokeApiKeyRequest()
      revoke.keyID = keyID
      _ = try await context.operatorClient.unary(AdminMethods.revokeApiKey, revoke)
      let refusal = await expectStatus(.unauthenticated) {
        try await client.unary(SystemMethods.ping, Tally_V1_PingRequest())
      }
      #expect(refusal?.message.contains("revoked") == true, "\(String(describing: refusal))")
      await client.close()
    }
  }

  @Test func aTenantSuspendedThroughTheAPIIsRefusedAtItsVeryNextCall() async throws {
    try await Self.with(listening: false) { context in
      let (tenantID, _, client) = try await Self.tenantKey(context)
      var suspend = Tally_V1_SuspendTenantRequest()
      suspend.tenantID = tenantID.uppercased()  // the tenant as the operator may write it
      _ = try await context.operatorClient.unary(AdminMethods.suspendTenant, suspend)
      _ = await expectStatus(.permissionDenied) { try await client.unary(SystemMethods.ping, Tally_V1_PingRequest()) }
      await client.close()
    }
  }

  /// Revoked or suspended in SQL by hand (or by another tallyd): the database's notification ends
  /// the pass, moments after the commit rather than 10 minutes.
  @Test func keysChangedInTheDatabaseByHandAreRefusedWithinMoments() async throws {
    try await Self.with { context in
      let owner = try TestDatabase.operatorOwnerConnection(ownerURL: context.ownerURL)
      defer { owner.close() }
      let revoked = try await Self.tenantKey(context)
      try owner.query("UPDATE api_keys SET revoked_at = now() WHERE key_id = $1", [revoked.keyID])
      #expect(try await Self.refused(revoked.client, .unauthenticated, within: .seconds(20)))
      let suspended = try await Self.tenantKey(context)
      try owner.query("UPDATE tenants SET status = 'suspended' WHERE tenant_id = $1::uuid", [suspended.tenantID])
      #expect(try await Self.refused(suspended.client, .permissionDenied, within: .seconds(20)))
      for client in [revoked.client, suspended.client] { await client.close() }
    }
  }

  /// While the feed's connection is lost, changes may go unheard: it drops every pass when it
  /// listens again, so a key revoked meanwhile is still refused.
  @Test func aKeyRevokedWhileTheFeedWasLostIsRefusedOnceItListensAgain() async throws {
    try await Self.with { context in
      let owner = try TestDatabase.operatorOwnerConnection(ownerURL: context.ownerURL)
      defer { owner.close() }
      let key = try await Self.tenantKey(context)
      // Revoked without a notification (its trigger off for this one transaction), so that only
      // the feed's loss and return can end the pass; then the feed's backend ended.
      try owner.execute(
        """
        BEGIN;
        ALTER TABLE api_keys DISABLE TRIGGER api_keys_changed;
        UPDATE api_keys SET revoked_at = now() WHERE key_id = '\(key.keyID)';
        ALTER TABLE api_keys ENABLE TRIGGER api_keys_changed;
        COMMIT;
        """)
      _ = try await key.client.unary(SystemMethods.ping, Tally_V1_PingRequest())  // still its cached pass
      #expect(try terminateListeners(on: KeyChange.channel, in: context.appURL) == 1)
      #expect(try await Self.refused(key.client, .unauthenticated, within: .seconds(30)))
      #expect(try await waitUntil(timeout: .seconds(30)) { context.feed.listener.isListening })
      await key.client.close()
    }
  }
}
