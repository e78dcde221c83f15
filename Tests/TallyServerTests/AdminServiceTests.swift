import Foundation
import SwiftProtobuf
import TallyClient
import TallyCore
import TallyProto
import TallyServer
import TallyStore
import TallyTestSupport
import TallyWire
import Testing

/// Tenants and keys through the server, with keys checked against the database.
@Suite struct AdminServiceTests {
  /// A server whose keys live in a fresh migrated database; `body` gets it and an operator client.
  private func withAdminServer<T>(
    _ body: (TestServer, TallyClient, PostgresPool) async throws -> T
  ) async throws -> T {
    let database = try await TestDatabase.create()
    let pool = database.pool()
    defer { pool.close() }
    let operatorKey = try database.createOperatorKey()
    let authenticator = DatabaseAuthenticator(pool: pool, recheckInterval: .zero)
    let admin = AdminService(pool: pool)
    func registerAdmin(_ router: inout Router) { admin.register(into: &router) }
    return try await TestServer.with(authenticator: authenticator, services: registerAdmin) { server, _ in
      let client = try server.client(apiKey: operatorKey)
      let result = try await body(server, client, pool)
      await client.close()
      return result
    }
  }

  private func createTenant(_ client: TallyClient, _ name: String) async throws -> Tally_V1_Tenant {
    var request = Tally_V1_CreateTenantRequest()
    request.name = name
    request.currency = "EUR"
    return try await client.unary(AdminMethods.createTenant, request)
  }

  private func createKey(_ client: TallyClient, tenant: String, scopes: [String]) async throws -> String {
    var request = Tally_V1_CreateApiKeyRequest()
    request.tenantID = tenant
    request.name = "test key"
    request.scopes = scopes
    return try await client.unary(AdminMethods.createApiKey, request).key
  }

  @Test func tenantsRoundTripAndPageWhileRowsAreInserted() async throws {
    try await self.withAdminServer { _, client, _ in
      var created: [String] = []
      for index in 0..<5 { created.append(try await self.createTenant(client, "Tenant \(index)").tenantID) }
      var get = Tally_V1_GetTenantRequest()
      get.tenantID = created[2].uppercased()
      let fetched = try await client.unary(AdminMethods.getTenant, get)
      #expect(fetched.name == "Tenant 2")
      #expect(fetched.currency == "EUR")
      #expect(fetched.status == .active)

      var list = Tally_V1_ListTenantsRequest()
      list.pageSize = 2
      var seen: [String] = []
      var pages = 0
      repeat {
        let page = try await client.unary(AdminMethods.listTenants, list)
        seen += page.tenants.map(\.tenantID)
        list.pageToken = page.nextPageToken
        pages += 1
        if pages == 1 { created.append(try await self.createTenant(client, "Late").tenantID) }
      } while !list.pageToken.isEmpty
      #expect(seen == created, "pages skipped or repeated a tenant")
      #expect(pages == 3)
    }
  }

  @Test func badInputNamesTheField() async throws {
    try await self.withAdminServer { _, client, _ in
      var bad = Tally_V1_CreateTenantRequest()
      bad.name = ""
      bad.currency = "euro"
      let error = await expectStatus(.invalidArgument) { try await client.unary(AdminMethods.createTenant, bad) }
      #expect(Set(error?.fieldViolations.map(\.field) ?? []) == ["name", "currency"])
      var get = Tally_V1_GetTenantRequest()
      get.tenantID = "not-a-uuid"
      _ = await expectStatus(.invalidArgument) { try await client.unary(AdminMethods.getTenant, get) }
      get.tenantID = UUID().uuidString
      _ = await expectStatus(.notFound) { try await client.unary(AdminMethods.getTenant, get) }
      var list = Tally_V1_ListTenantsRequest()
      list.pageSize = 1001
      _ = await expectStatus(.invalidArgument) { try await client.unary(AdminMethods.listTenants, list) }
      list.pageSize = 0
      list.pageToken = "forged"
      _ = await expectStatus(.invalidArgument) { try await client.unary(AdminMethods.listTenants, list) }
      var suspend = Tally_V1_SuspendTenantRequest()
      suspend.tenantID = "nope"
      _ = await expectStatus(.invalidArgument) { try await client.unary(AdminMethods.suspendTenant, suspend) }
      var resume = Tally_V1_ResumeTenantRequest()
      resume.tenantID = UUID().uuidString
      _ = await expectStatus(.notFound) { try await client.unary(AdminMethods.resumeTenant, resume) }
      var revoke = Tally_V1_RevokeApiKeyRequest()
      revoke.keyID = "Not_A_Key"
      _ = await expectStatus(.invalidArgument) { try await client.unary(AdminMethods.revokeApiKey, revoke) }
      revoke.keyID = "0123456789abcdef"
      _ = await expectStatus(.notFound) { try await client.unary(AdminMethods.revokeApiKey, revoke) }
      var key = Tally_V1_CreateApiKeyRequest()
      key.tenantID = try await self.createTenant(client, "K").tenantID
      key.name = "k"
      key.scopes = ["operator"]
      _ = await expectStatus(.invalidArgument) { try await client.unary(AdminMethods.createApiKey, key) }
    }
  }

  /// A new tenant's read key, and a raw connection of it past WELCOME.
  private func connectionOfANewKey(
    _ server: TestServer, _ operatorClient: TallyClient
  ) async throws -> (RawConnection, key: String) {
    let tenant = try await self.createTenant(operatorClient, "Acme").tenantID
    let key = try await self.createKey(operatorClient, tenant: tenant, scopes: ["read"])
    let connection = try await RawConnection(port: server.port)
    try await connection.handshake(apiKey: key)
    #expect(await connection.nextFrame()?.type == .welcome)
    return (connection, key)
  }

  private func revoke(_ key: String, _ operatorClient: TallyClient) async throws {
    var revoke = Tally_V1_RevokeApiKeyRequest()
    revoke.keyID = APIKey(parsing: key)!.keyID
    _ = try await operatorClient.unary(AdminMethods.revokeApiKey, revoke)
  }

  /// Stream 1 answered `code`, and GOAWAY UNAUTHENTICATED, then the close. In either order: the
  /// connection's own key re-check (due 2 s after the last) may refuse the key before the call's
  /// does when a read brings the CALL alone, and a draining connection still answers its calls.
  private func expectAnsweredAndGoneAway(_ connection: RawConnection, stream code: Tally_V1_StatusCode) async {
    let frames = await connection.framesUntilClosed(timeout: .seconds(10))
    #expect(frames != nil, "the connection stayed open")
    let statuses = (frames ?? []).filter { $0.type == .status }.map {
      ($0.streamID, try? Tally_V1_Status(decoding: $0.payload))
    }
    #expect(statuses.count == 1 && statuses.first?.0 == 1 && statuses.first?.1?.code == code, "\(statuses)")
    let goAways = (frames ?? []).filter { $0.type == .goAway }.map { try? Tally_V1_GoAway(decoding: $0.payload) }
    #expect(
      goAways.count == 1 && goAways.first??.code == .unauthenticated && goAways.first??.lastStreamID == 1,
      "\(goAways)")
  }

  /// A connection whose key a call's re-check refused takes no more calls: GOAWAY
  /// UNAUTHENTICATED, then the close (its calls would each take a token of the tenant's rate).
  @Test func aConnectionWhoseKeyWasRevokedGoesAway() async throws {
    try await self.withAdminServer { server, operatorClient, _ in
      let (connection, key) = try await self.connectionOfANewKey(server, operatorClient)
      try await self.revoke(key, operatorClient)
      try await connection.send(.call, streamID: 1, callHeader("tally.v1.SystemService/Ping"))
      // The server may have refused the CALL and closed before this frame is written.
      try? await connection.send(.message, flags: .endStream, streamID: 1, Tally_V1_PingRequest())
      await self.expectAnsweredAndGoneAway(connection, stream: .unauthenticated)
    }
  }

  /// A revoked key's connection that starts no call (CALLs cancelled before their message, PINGs)
  /// has its key re-checked too, and goes away: it kept its connection slot, and spent its
  /// tenant's call rate, for as long as it liked.
  @Test func aConnectionOfARevokedKeyThatStartsNoCallGoesAway() async throws {
    try await self.withAdminServer { server, operatorClient, _ in
      let (connection, key) = try await self.connectionOfANewKey(server, operatorClient)
      try await self.revoke(key, operatorClient)
      // Past the look-up's cache of the HELLO's check (2 s): a call would now be refused.
      try await Task.sleep(for: .milliseconds(2_100))
      try await connection.send(.call, streamID: 1, callHeader("tally.v1.SystemService/Ping"))
      try await connection.send(.cancel, streamID: 1, Tally_V1_PingRequest())  // no payload
      await self.expectAnsweredAndGoneAway(connection, stream: .cancelled)
    }
  }

  /// A stream whose key is refused at one of its messages ends the connection's calls too: it
  /// took further calls, each a token of the tenant's rate and a look-up, to refuse them one by one.
  @Test func aStreamRefusedItsKeyMidwayIsFollowedByGoAway() async throws {
    try await self.withAdminServer { server, operatorClient, _ in
      let (connection, key) = try await self.connectionOfANewKey(server, operatorClient)
      try await connection.send(.call, streamID: 1, callHeader("tally.v1.SystemService/Sum"))
      try await connection.send(.message, streamID: 1, Tally_V1_SumRequest.with { $0.numbers = [1, 2] })
      try await self.revoke(key, operatorClient)
      // Past the connection's own re-check interval (2 s), as a slow revocation under load was: the
      // stream's message counts as its connection's re-check, so one look-up refuses the key, not two.
      try await Task.sleep(for: .milliseconds(2_100))
      // The re-check of the message before may still run and see the key revoked: the server may
      // have refused the stream and closed before this frame is written.
      try? await connection.send(
        .message, flags: .endStream, streamID: 1, Tally_V1_SumRequest.with { $0.numbers = [3] })
      await self.expectAnsweredAndGoneAway(connection, stream: .unauthenticated)
    }
  }

  /// An operator's call that acts on a tenant manages that tenant's keys only: it revoked another
  /// tenant's key by its id, made keys for the tenant its request named, and listed operator keys.
  @Test func anOperatorsCallActingOnATenantManagesItsKeysOnly() async throws {
    try await self.withAdminServer { _, operatorClient, _ in
      let tenantA = try await self.createTenant(operatorClient, "A").tenantID
      let tenantB = try await self.createTenant(operatorClient, "B").tenantID
      let keyA = try await self.createKey(operatorClient, tenant: tenantA, scopes: ["read"])
      let keyB = try await self.createKey(operatorClient, tenant: tenantB, scopes: ["read"])
      let actingOnA = CallOptions(tenantID: tenantA)
      var revoke = Tally_V1_RevokeApiKeyRequest()
      revoke.keyID = APIKey(parsing: keyB)!.keyID
      _ = await expectStatus(.notFound) {
        try await operatorClient.unary(AdminMethods.revokeApiKey, revoke, options: actingOnA)
      }
      var listB = Tally_V1_ListApiKeysRequest()
      listB.tenantID = tenantB
      #expect(try await operatorClient.unary(AdminMethods.listApiKeys, listB).apiKeys.map(\.hasRevokedAt) == [false])
      var create = Tally_V1_CreateApiKeyRequest()
      (create.tenantID, create.name, create.scopes) = (tenantB, "for B", ["read"])
      await expectViolation("tenant_id") {
        try await operatorClient.unary(AdminMethods.createApiKey, create, options: actingOnA)
      }
      #expect(try await operatorClient.unary(AdminMethods.listApiKeys, listB).apiKeys.count == 1)
      // Listed with no tenant named, the call's tenant's keys, not the operator keys.
      let listed = try await operatorClient.unary(AdminMethods.listApiKeys, .init(), options: actingOnA).apiKeys
      #expect(listed.map(\.keyID) == [APIKey(parsing: keyA)!.keyID])
      revoke.keyID = APIKey(parsing: keyA)!.keyID
      #expect(try await operatorClient.unary(AdminMethods.revokeApiKey, revoke, options: actingOnA).hasRevokedAt)
      // A made-up tenant in the header names its field; it failed in the database (INTERNAL).
      let madeUp = CallOptions(tenantID: "acme")
      await expectViolation("tenant_id") {
        try await operatorClient.unary(AdminMethods.listApiKeys, .init(), options: madeUp)
      }
      await expectViolation("tenant_id") {
        try await operatorClient.unary(AdminMethods.revokeApiKey, revoke, options: madeUp)
      }
      create.tenantID = ""
      await expectViolation("tenant_id") {
        try await operatorClient.unary(AdminMethods.createApiKey, create, options: madeUp)
      }
      // A tenant call whose request names B while its CALL acts on A does neither: it suspended B.
      var suspend = Tally_V1_SuspendTenantRequest()
      suspend.tenantID = tenantB
      await expectViolation("tenant_id") {
        try await operatorClient.unary(AdminMethods.suspendTenant, suspend, options: actingOnA)
      }
      var getB = Tally_V1_GetTenantRequest()
      getB.tenantID = tenantB
      #expect(try await operatorClient.unary(AdminMethods.getTenant, getB).status == .active)
      await expectViolation("tenant_id") {
        try await operatorClient.unary(AdminMethods.getTenant, getB, options: actingOnA)
      }
    }
  }

  /// A tenant key may name its own tenant in the header in any case, as an operator's may.
  @Test func aTenantKeyNamesItsOwnTenantInAnyCase() async throws {
    try await self.withAdminServer { server, operatorClient, _ in
      let tenant = try await self.createTenant(operatorClient, "Own").tenantID
      let admin = try server.client(apiKey: try await self.createKey(operatorClient, tenant: tenant, scopes: ["admin"]))
      let listed = try await admin.unary(
        AdminMethods.listApiKeys, .init(), options: CallOptions(tenantID: tenant.uppercased()))
      #expect(listed.apiKeys.count == 1)
      // In the request too; a made-up id is named as such, another tenant's refused.
      var request = Tally_V1_ListApiKeysRequest()
      request.tenantID = tenant.uppercased()
      #expect(try await admin.unary(AdminMethods.listApiKeys, request).apiKeys.count == 1)
      request.tenantID = "xyz"
      let madeUp = await expectStatus(.invalidArgument) { try await admin.unary(AdminMethods.listApiKeys, request) }
      #expect(madeUp?.fieldViolations.first?.field == "tenant_id")
      request.tenantID = try await self.createTenant(operatorClient, "Another").tenantID
      _ = await expectStatus(.permissionDenied) { try await admin.unary(AdminMethods.listApiKeys, request) }
      await admin.close()
    }
  }

  /// Revoked keys listed are the most recently revoked 1,000, beside every unrevoked one: a tenant
  /// that made and revoked keys for ever would otherwise list past the largest answer.
  @Test func aListingShowsTheMostRecentlyRevokedThousandKeys() async throws {
    try await self.withAdminServer { _, operatorClient, pool in
      let tenant = try await self.createTenant(operatorClient, "Churn").tenantID
      _ = try await self.createKey(operatorClient, tenant: tenant, scopes: ["read"])
      try await pool.withTransaction(scope: .tenant(tenant)) { connection in
        try connection.query(
          """
          INSERT INTO api_keys (tenant_id, key_id, name, scopes, secret_sha256, created_at, revoked_at)
          SELECT $1::uuid, 'revoked' || g, 'old', '{read}', decode(repeat('00', 32), 'hex'),
            now() - interval '1 day', now() - g * interval '1 minute'
          FROM generate_series(1, 1005) g
          """, [tenant])
      }
      var request = Tally_V1_ListApiKeysRequest()
      request.tenantID = tenant
      #expect(try await operatorClient.unary(AdminMethods.listApiKeys, request).apiKeys.count == 1)
      request.includeRevoked = true
      let keys = try await operatorClient.unary(AdminMethods.listApiKeys, request).apiKeys
      #expect(keys.count == 1_001)
      let revoked = Set(keys.filter(\.hasRevokedAt).map(\.keyID))
      #expect(revoked.count == 1_000 && revoked.contains("revoked1000") && !revoked.contains("revoked1001"))
      #expect(keys.last?.hasRevokedAt == false, "listed in the order they were made, the unrevoked key last")
    }
  }

  /// A tenant holds at most 100 unrevoked keys (each may open 1,000 connections per server);
  /// revoking one makes room.
  @Test func aTenantHoldsAtMostAHundredActiveKeys() async throws {
    try await self.withAdminServer { _, operatorClient, _ in
      let tenant = try await self.createTenant(operatorClient, "Keys").tenantID
      var first = ""
      for index in 0..<100 {
        let key = try await self.createKey(operatorClient, tenant: tenant, scopes: ["read"])
        if index == 0 { first = key }
      }
      let refused = await expectStatus(.failedPrecondition) {
        try await self.createKey(operatorClient, tenant: tenant, scopes: ["read"])
      }
      #expect(refused?.message.contains("100 active API keys") == true, "\(String(describing: refused))")
      var revoke = Tally_V1_RevokeApiKeyRequest()
      revoke.keyID = APIKey(parsing: first)!.keyID
      _ = try await operatorClient.unary(AdminMethods.revokeApiKey, revoke)
      _ = try await self.createKey(operatorClient, tenant: tenant, scopes: ["read"])
      // Another tenant's keys are its own count.
      let other = try await self.createTenant(operatorClient, "Other").tenantID
      _ = try await self.createKey(operatorClient, tenant: other, scopes: ["read"])
    }
  }

  /// The operator holds at most 100 unrevoked keys too: its listing answers them all in one frame
  /// (thousands of long-named ones passed it, and the listing failed for good).
  @Test func theOperatorHoldsAtMostAHundredActiveKeys() async throws {
    try await self.withAdminServer { _, operatorClient, _ in
      var request = Tally_V1_CreateApiKeyRequest()
      (request.name, request.scopes) = ("ops", ["operator"])
      let listed = try await operatorClient.unary(AdminMethods.listApiKeys, Tally_V1_ListApiKeysRequest()).apiKeys
      for _ in listed.count..<100 { _ = try await operatorClient.unary(AdminMethods.createApiKey, request) }
      let refused = await expectStatus(.failedPrecondition) {
        try await operatorClient.unary(AdminMethods.createApiKey, request)
      }
      #expect(
        refused?.message.contains("the operator has 100 active API keys") == true, "\(String(describing: refused))")
      #expect(
        try await operatorClient.unary(AdminMethods.listApiKeys, Tally_V1_ListApiKeysRequest()).apiKeys.count == 100)
    }
  }

  @Test func aNewKeyWorksUntilRevokedOrItsTenantIsSuspended() async throws {
    try await self.withAdminServer { server, operatorClient, _ in
      let tenant = try await self.createTenant(operatorClient, "Acme").tenantID
      let key = try await self.createKey(operatorClient, tenant: tenant, scopes: ["read"])
      let client = try server.client(apiKey: key)
      let welcome = try await client.welcome()
      #expect(welcome.principal.tenantID == tenant)
      #expect(welcome.principal.scopes == ["read"])
      _ = try await client.unary(SystemMethods.ping, Tally_V1_PingRequest())

      var suspend = Tally_V1_SuspendTenantRequest()
      suspend.tenantID = tenant
      let suspended = try await operatorClient.unary(AdminMethods.suspendTenant, suspend)
      #expect(suspended.status == .suspended && suspended.hasSuspendedAt)
      // Suspending again keeps the time it was suspended.
      try await Task.sleep(for: .milliseconds(20))
      #expect(try await operatorClient.unary(AdminMethods.suspendTenant, suspend).suspendedAt == suspended.suspendedAt)
      _ = await expectStatus(.permissionDenied) { try await client.unary(SystemMethods.ping, Tally_V1_PingRequest()) }
      var resume = Tally_V1_ResumeTenantRequest()
      resume.tenantID = tenant
      _ = try await operatorClient.unary(AdminMethods.resumeTenant, resume)
      _ = try await client.unary(SystemMethods.ping, Tally_V1_PingRequest())

      var revoke = Tally_V1_RevokeApiKeyRequest()
      revoke.keyID = APIKey(parsing: key)!.keyID
      #expect(try await operatorClient.unary(AdminMethods.revokeApiKey, revoke).hasRevokedAt)
      _ = await expectStatus(.unauthenticated) { try await client.unary(SystemMethods.ping, Tally_V1_PingRequest()) }
      await client.close()

      let wrongSecret = try server.client(apiKey: APIKey(keyID: revoke.keyID, secret: "guess").text)
      _ = await expectStatus(.unauthenticated) {
        try await wrongSecret.unary(SystemMethods.ping, Tally_V1_PingRequest())
      }
      await wrongSecret.close()
    }
  }

  @Test func scopesAndTenantsFenceEveryMethod() async throws {
    try await self.withAdminServer { server, operatorClient, _ in
      let tenantA = try await self.createTenant(operatorClient, "A").tenantID
      let tenantB = try await self.createTenant(operatorClient, "B").tenantID
      let adminA = try server.client(
        apiKey: try await self.createKey(operatorClient, tenant: tenantA, scopes: ["admin"]))
      let keyB = try await self.createKey(operatorClient, tenant: tenantB, scopes: ["read"])
      let readerA = try server.client(
        apiKey: try await self.createKey(operatorClient, tenant: tenantA, scopes: ["read"]))
      var getB = Tally_V1_GetTenantRequest()
      getB.tenantID = tenantB
      var listB = Tally_V1_ListApiKeysRequest()
      listB.tenantID = tenantB
      listB.includeRevoked = true
      let bKeys = try await operatorClient.unary(AdminMethods.listApiKeys, listB).apiKeys
      #expect(bKeys.count == 1)
      // B as the operator reads it: A's refused calls must leave its status, rate and keys as they were.
      func bTenant() async throws -> Tally_V1_Tenant { try await operatorClient.unary(AdminMethods.getTenant, getB) }

      // Tenant methods are the operator's alone.
      _ = await expectStatus(.permissionDenied) {
        try await adminA.unary(AdminMethods.listTenants, Tally_V1_ListTenantsRequest())
      }
      let tenants = try await operatorClient.unary(AdminMethods.listTenants, Tally_V1_ListTenantsRequest())
      _ = await expectStatus(.permissionDenied) { try await self.createTenant(adminA, "Rogue") }
      #expect(
        try await operatorClient.unary(AdminMethods.listTenants, Tally_V1_ListTenantsRequest()) == tenants,
        "the refused create made no tenant")
      _ = await expectStatus(.permissionDenied) { try await adminA.unary(AdminMethods.getTenant, getB) }
      var suspendB = Tally_V1_SuspendTenantRequest()
      suspendB.tenantID = tenantB
      _ = await expectStatus(.permissionDenied) { try await adminA.unary(AdminMethods.suspendTenant, suspendB) }
      #expect(try await bTenant().status == .active)
      // B suspended by the operator: A's resume, were it to go through, would show as active.
      _ = try await operatorClient.unary(AdminMethods.suspendTenant, suspendB)
      var resumeB = Tally_V1_ResumeTenantRequest()
      resumeB.tenantID = tenantB
      _ = await expectStatus(.permissionDenied) { try await adminA.unary(AdminMethods.resumeTenant, resumeB) }
      #expect(try await bTenant().status == .suspended)
      _ = try await operatorClient.unary(AdminMethods.resumeTenant, resumeB)
      var rateB = Tally_V1_SetTenantCallRateRequest()
      rateB.tenantID = tenantB
      rateB.callsPerSecond = 1
      rateB.callBurst = 1
      _ = await expectStatus(.permissionDenied) { try await adminA.unary(AdminMethods.setTenantCallRate, rateB) }
      let rate = try await bTenant()
      #expect(!rate.hasCallsPerSecond && !rate.hasCallBurst, "B keeps the server's rate")
      rateB.tenantID = tenantA
      _ = await expectStatus(.permissionDenied) { try await adminA.unary(AdminMethods.setTenantCallRate, rateB) }
      _ = await expectStatus(.permissionDenied) {
        try await readerA.unary(AdminMethods.listApiKeys, Tally_V1_ListApiKeysRequest())
      }

      // An admin key sees and manages its own tenant's keys, never B's.
      let ownKeys = try await adminA.unary(AdminMethods.listApiKeys, Tally_V1_ListApiKeysRequest())
      #expect(Set(ownKeys.apiKeys.map(\.tenantID)) == [tenantA])
      _ = await expectStatus(.permissionDenied) { try await adminA.unary(AdminMethods.listApiKeys, listB) }
      var createB = Tally_V1_CreateApiKeyRequest()
      createB.tenantID = tenantB
      createB.name = "intruder"
      createB.scopes = ["admin"]
      _ = await expectStatus(.permissionDenied) { try await adminA.unary(AdminMethods.createApiKey, createB) }
      var revokeB = Tally_V1_RevokeApiKeyRequest()
      revokeB.keyID = APIKey(parsing: keyB)!.keyID
      _ = await expectStatus(.notFound) { try await adminA.unary(AdminMethods.revokeApiKey, revokeB) }
      // B has its one key, unrevoked, and no key named "intruder".
      #expect(try await operatorClient.unary(AdminMethods.listApiKeys, listB).apiKeys == bKeys)
      let clientB = try server.client(apiKey: keyB)
      _ = try await clientB.unary(SystemMethods.ping, Tally_V1_PingRequest())
      for client in [adminA, readerA, clientB] { await client.close() }
    }
  }

  @Test func aTenantsOwnCallRateIsCheckedStoredAndEnforced() async throws {
    try await self.withAdminServer { server, operatorClient, pool in
      let tenantA = try await self.createTenant(operatorClient, "A").tenantID
      let tenantB = try await self.createTenant(operatorClient, "B").tenantID
      var bad = Tally_V1_SetTenantCallRateRequest()
      bad.tenantID = "nope"
      bad.callsPerSecond = 1_000_001
      bad.callBurst = 0
      let error = await expectStatus(.invalidArgument) {
        try await operatorClient.unary(AdminMethods.setTenantCallRate, bad)
      }
      #expect(Set(error?.fieldViolations.map(\.field) ?? []) == ["tenant_id", "calls_per_second", "call_burst"])
      bad = Tally_V1_SetTenantCallRateRequest()
      bad.tenantID = UUID().uuidString
      _ = await expectStatus(.notFound) { try await operatorClient.unary(AdminMethods.setTenantCallRate, bad) }

      var set = Tally_V1_SetTenantCallRateRequest()
      set.tenantID = tenantA
      set.callsPerSecond = 1
      set.callBurst = 2
      let updated = try await operatorClient.unary(AdminMethods.setTenantCallRate, set)
      #expect(updated.callsPerSecond == 1 && updated.callBurst == 2 && updated.tenantID == tenantA)
      var get = Tally_V1_GetTenantRequest()
      get.tenantID = tenantB
      let other = try await operatorClient.unary(AdminMethods.getTenant, get)
      #expect(!other.hasCallsPerSecond && !other.hasCallBurst, "B keeps the server's rate")
      #expect(try await AdminService.tenantCallRates(pool) == [tenantA: TenantCallRate(callsPerSecond: 1, burst: 2)])

      // What tallyd's refresh does every 2 s; then A's keys get its burst of 2 and no more, B's the server's.
      server.server.replaceTenantCallRates(try await AdminService.tenantCallRates(pool))
      // Clients that fail on a rate refusal instead of waiting it out.
      func impatientReader(_ tenant: String) async throws -> TallyClient {
        var configuration = server.clientConfiguration(
          apiKey: try await self.createKey(operatorClient, tenant: tenant, scopes: ["read"]))
        configuration.maxRateLimitWait = .zero
        return try TallyClient(configuration: configuration)
      }
      let readerA = try await impatientReader(tenantA)
      let readerB = try await impatientReader(tenantB)
      let (admitted, refusal, _) = try await pingUntilRefused(readerA)
      #expect(admitted >= 2 && admitted < 10)
      #expect(refusal?.code == .resourceExhausted)
      #expect(refusal?.message.contains("1 calls per second (bursts of up to 2)") == true)
      for _ in 0..<20 { _ = try await readerB.unary(SystemMethods.ping, Tally_V1_PingRequest()) }

      // Back to the server's rate: A's next calls go through at once.
      set.clearCallsPerSecond()
      set.clearCallBurst()
      let cleared = try await operatorClient.unary(AdminMethods.setTenantCallRate, set)
      #expect(!cleared.hasCallsPerSecond && !cleared.hasCallBurst)
      server.server.replaceTenantCallRates(try await AdminService.tenantCallRates(pool))
      for _ in 0..<20 { _ = try await readerA.unary(SystemMethods.ping, Tally_V1_PingRequest()) }
      for client in [readerA, readerB] { await client.close() }
    }
  }
}
