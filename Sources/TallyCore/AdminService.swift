import Foundation
import SwiftProtobuf
public import TallyProto
public import TallyStore
import TallyWire

/// `tally.v1.AdminService`: tenants (operator keys) and API keys (operator keys, or a tenant's
/// admin keys for their own tenant, where row-level security keeps them inside it).
public struct AdminService: Sendable {
  static let tenantColumns = """
    tenant_id::text AS tenant_id, name, currency, status,
    \(Micros.of("created_at")) AS created_us, \(Micros.of("suspended_at")) AS suspended_us, calls_per_second,
    call_burst
    """
  static let keyColumns = """
    key_id, name, \(Micros.of("created_at")) AS created_us, \(Micros.of("revoked_at")) AS revoked_us
    """
  /// The columns `apiKey(_:)` reads, from `api_keys` and from `operator_api_keys` (no tenant, one scope).
  static let tenantKeyColumns = "\(keyColumns), tenant_id::text AS tenant_id, scopes::text AS scopes"
  static let operatorKeyColumns = "\(keyColumns), NULL::text AS tenant_id, '{operator}'::text[] AS scopes"

  private let pool: PostgresPool
  /// Told of a revocation or suspension once it commits, so that this server's next call of the
  /// key re-checks it at once; other servers learn of it from the database (migration 0029).
  private let keyChanges: @Sendable (KeyChange) -> Void

  public init(pool: PostgresPool, keyChanges: @escaping @Sendable (KeyChange) -> Void = { _ in }) {
    self.pool = pool
    self.keyChanges = keyChanges
  }

  public func register(into router: inout Router) {
    let operatorOnly = Access.scopes([.operator])
    router.unary(AdminMethods.createTenant, access: operatorOnly, self.createTenant)
    router.unary(AdminMethods.getTenant, access: operatorOnly, self.getTenant)
    router.unary(AdminMethods.listTenants, access: operatorOnly, self.listTenants)
    router.unary(AdminMethods.suspendTenant, access: operatorOnly) { request, context in
      try await self.setStatus(request.tenantID, suspended: true, context)
    }
    router.unary(AdminMethods.resumeTenant, access: operatorOnly) { request, context in
      try await self.setStatus(request.tenantID, suspended: false, context)
    }
    router.unary(AdminMethods.setTenantCallRate, access: operatorOnly, self.setTenantCallRate)
    let keyManagers = Access.scopes([.operator, .admin])
    router.unary(AdminMethods.createApiKey, access: keyManagers, self.createApiKey)
    router.unary(AdminMethods.listApiKeys, access: keyManagers, self.listApiKeys)
    router.unary(AdminMethods.revokeApiKey, access: keyManagers, self.revokeApiKey)
  }

  // MARK: Tenants

  @Sendable public func createTenant(_ request: Tally_V1_CreateTenantRequest, _ context: RequestContext) async throws
    -> Tally_V1_Tenant
  {
    var violations = Validation.name(request.name, field: "name")
    if !Validation.consists(request.currency, length: 3...3, of: { ("A"..."Z").contains($0) }) {
      violations.append(
        .init(field: "currency", description: "must be an ISO 4217 code of three upper-case letters, e.g. EUR")
      )
    }
    guard violations.isEmpty else { throw RPCError.invalidArgument(violations) }
    return try await self.pool.withTransaction(scope: .operator) { connection in
      try Self.tenant(
        connection.query(
          "INSERT INTO tenants (tenant_id, name, currency) VALUES (gen_random_uuid(), $1, $2) RETURNING \(Self.tenantColumns)",
          [request.name, request.currency]
        ).rows[0]
      )
    }
  }

  /// The tenant a tenant-management call names in its request. A CALL that names another one acts
  /// on neither, as for the key calls: it acted on the request's and took the header's call rate.
  private static func namedTenant(_ requested: String, _ context: RequestContext) throws -> String {
    let tenantID = try Validation.uuid(requested, field: "tenant_id")
    // The CALL's tenant comes normalized from `Principal.authorize`.
    if let header = context.tenantID, header != tenantID {
      throw RPCError.invalidArgument(
        field: "tenant_id", "names \(tenantID), but the call acts on tenant \(header.prefix(64)): name one of them")
    }
    return tenantID
  }

  @Sendable func getTenant(_ request: Tally_V1_GetTenantRequest, _ context: RequestContext) async throws
    -> Tally_V1_Tenant
  {
    let tenantID = try Self.namedTenant(request.tenantID, context)
    let row = try await self.pool.withTransaction(scope: .operator) { connection in
      try connection.query("SELECT \(Self.tenantColumns) FROM tenants WHERE tenant_id = $1::uuid", [tenantID]).rows
        .first
    }
    guard let row else { throw RPCError(code: .notFound, message: "no tenant \(tenantID)") }
    return try Self.tenant(row)
  }

  @Sendable func listTenants(_ request: Tally_V1_ListTenantsRequest, _ context: RequestContext) async throws
    -> Tally_V1_ListTenantsResponse
  {
    let pageSize = try Validation.pageSize(request.pageSize)
    let after = try PageToken.decode(request.pageToken, positions: PageToken.timePositions)
    let rows = try await self.pool.withTransaction(scope: .operator) { connection in
      try connection.query(
        """
        SELECT \(Self.tenantColumns) FROM tenants
        WHERE $1::bigint IS NULL
          OR (created_at, tenant_id) > ('epoch'::timestamptz + $1::bigint * interval '1 microsecond', $2::uuid)
        ORDER BY created_at, tenant_id LIMIT $3
        """,
        [after?.position, after?.id, pageSize + 1]
      ).rows
    }
    var response = Tally_V1_ListTenantsResponse()
    response.tenants = try rows.prefix(pageSize).map(Self.tenant)
    if rows.count > pageSize, let last = response.tenants.last {
      let micros = last.createdAt.seconds * 1_000_000 + Int64(last.createdAt.nanos / 1000)
      response.nextPageToken = PageToken.encode(position: micros, id: last.tenantID)
    }
    return response
  }

  private func setStatus(_ rawID: String, suspended: Bool, _ context: RequestContext) async throws -> Tally_V1_Tenant {
    let tenantID = try Self.namedTenant(rawID, context)
    let row = try await self.pool.withTransaction(scope: .operator) { connection in
      try connection.query(
        """
        UPDATE tenants SET status = $2,
          suspended_at = CASE WHEN $2 = 'suspended' THEN coalesce(suspended_at, now()) END
        WHERE tenant_id = $1::uuid RETURNING \(Self.tenantColumns)
        """,
        [tenantID, suspended ? "suspended" : "active"]
      ).rows.first
    }
    guard let row else { throw RPCError(code: .notFound, message: "no tenant \(tenantID)") }
    if suspended { self.keyChanges(.tenant(tenantID)) }
    return try Self.tenant(row)
  }

  @Sendable func setTenantCallRate(_ request: Tally_V1_SetTenantCallRateRequest, _ context: RequestContext)
    async throws -> Tally_V1_Tenant
  {
    // Every bad field in one answer, the tenant id's included.
    var violations: [RPCError.FieldViolation] = []
    var tenantID: String?
    do {
      tenantID = try Self.namedTenant(request.tenantID, context)
    } catch let error as RPCError {
      violations += error.fieldViolations
    }
    let rate = request.hasCallsPerSecond ? Int(request.callsPerSecond) : nil
    if let rate, !ServerLimits.tenantCallsPerSecondRange.contains(rate) {
      violations.append(
        .init(field: "calls_per_second", description: "must be at most 1,000,000 (0: not limited), got \(rate)"))
    }
    let burst = request.hasCallBurst ? Int(request.callBurst) : nil
    if let burst, !ServerLimits.tenantCallBurstRange.contains(burst) {
      violations.append(.init(field: "call_burst", description: "must be between 1 and 10,000,000, got \(burst)"))
    }
    guard let tenantID, violations.isEmpty else { throw RPCError.invalidArgument(violations) }
    let row = try await self.pool.withTransaction(scope: .operator) { connection in
      try connection.query(
        "UPDATE tenants SET calls_per_second = $2, call_burst = $3 WHERE tenant_id = $1::uuid RETURNING \(Self.tenantColumns)",
        [tenantID, rate, burst]
      ).rows.first
    }
    guard let row else { throw RPCError(code: .notFound, message: "no tenant \(tenantID)") }
    return try Self.tenant(row)
  }

  /// Every tenant's own call rate, for the servers' rate checks (tallyd reads it every 2 s).
  public static func tenantCallRates(_ pool: PostgresPool) async throws -> [String: TenantCallRate] {
    let rows = try await pool.withTransaction(scope: .operator) { connection in
      try connection.query(
        """
        SELECT tenant_id::text AS tenant_id, calls_per_second, call_burst FROM tenants
        WHERE calls_per_second IS NOT NULL OR call_burst IS NOT NULL
        """
      ).rows
    }
    var rates: [String: TenantCallRate] = [:]
    for row in rows {
      rates[try row.require(String.self, "tenant_id")] = TenantCallRate(
        callsPerSecond: try row.decode(Int.self, "calls_per_second"), burst: try row.decode(Int.self, "call_burst"))
    }
    return rates
  }

  // MARK: API keys

  /// Keys a tenant (or the operator) may hold unrevoked: each may open `max_connections_per_key`
  /// connections, so without a bound one tenant's admin could open any number of them on every
  /// server; and ListApiKeys answers them all in one frame.
  static let maxActiveKeysPerTenant = 100

  /// Refuses a new key while `holder` (a tenant, or the operator) has `maxActiveKeysPerTenant`
  /// unrevoked ones, counted by `active` under a lock of the holder's, so that two creates at once
  /// cannot both take the last place.
  private static func checkRoomForAKey(
    of holder: String, lock: String, active: String, _ parameters: [String], _ connection: PostgresConnection
  ) throws {
    try connection.query("SELECT pg_advisory_xact_lock(hashtext($1))", [lock])
    let count = try connection.query(active, parameters).rows[0].require(Int.self, "n")
    guard count < Self.maxActiveKeysPerTenant else {
      throw RPCError(
        code: .failedPrecondition,
        message: "\(holder) has \(count) active API keys, the most one may hold: revoke one first")
    }
  }

  @Sendable public func createApiKey(_ request: Tally_V1_CreateApiKeyRequest, _ context: RequestContext) async throws
    -> Tally_V1_CreateApiKeyResponse
  {
    var checker = FieldChecker()
    checker.text(request.name, "name", required: true)
    // An operator's malformed tenant_id is one more violation; it still names a tenant key's scopes.
    let collectedTarget = try Validation.collecting(&checker) { try self.keyTarget(request.tenantID, context) }
    let tenantScopes: Set<String> = ["admin", "write", "read", "collect"]
    switch collectedTarget ?? .tenant("") {
    case .operator where request.scopes != ["operator"]:
      checker.add("scopes", "an operator key (no tenant_id) has exactly [\"operator\"]")
    case .tenant
    where request.scopes.isEmpty || request.scopes.count > 4 || !Set(request.scopes).isSubset(of: tenantScopes):
      checker.add(
        "scopes", "one or more of admin, write, read, collect, each once; got \(Array(request.scopes.prefix(8)))")
    default: break
    }
    // A scope listed twice would be stored twice; the client's list likely holds a typo.
    for (index, first) in Validation.repeats(request.scopes) {
      checker.add(
        "scopes[\(index)]", "\"\(request.scopes[index].prefix(40))\" is also scopes[\(first)]: list each scope once")
    }
    let target = try checker.checked(collectedTarget)

    let key = APIKey(keyID: Self.randomHex(bytes: 8), secret: Self.randomHex(bytes: 32))
    let hash = Data(DatabaseAuthenticator.hash(secret: key.secret)).base64EncodedString()
    let scopes = "{\(request.scopes.sorted().joined(separator: ","))}"
    let row = try await self.pool.withTransaction(scope: target.scope) { connection -> PostgresRow? in
      switch target {
      case .operator:
        try Self.checkRoomForAKey(
          of: "the operator", lock: "operator_api_keys",
          active: "SELECT count(*) AS n FROM operator_api_keys WHERE revoked_at IS NULL", [], connection)
        return try connection.query(
          """
          INSERT INTO operator_api_keys (key_id, name, secret_sha256) VALUES ($1, $2, decode($3, 'base64'))
          RETURNING \(Self.operatorKeyColumns)
          """,
          [key.keyID, request.name, hash]
        ).rows.first
      case .tenant(let tenantID):
        guard try !connection.query("SELECT 1 FROM tenants WHERE tenant_id = $1::uuid", [tenantID]).rows.isEmpty else {
          return nil
        }
        try Self.checkRoomForAKey(
          of: "tenant \(tenantID)", lock: "api_keys \(tenantID)",
          active: "SELECT count(*) AS n FROM api_keys WHERE tenant_id = $1::uuid AND revoked_at IS NULL", [tenantID],
          connection)
        return try connection.query(
          """
          INSERT INTO api_keys (tenant_id, key_id, name, scopes, secret_sha256)
          VALUES ($1::uuid, $2, $3, $4::text[], decode($5, 'base64'))
          RETURNING \(Self.tenantKeyColumns)
          """,
          [tenantID, key.keyID, request.name, scopes, hash]
        ).rows.first
      }
    }
    guard let row else { throw RPCError(code: .notFound, message: "no tenant \(request.tenantID)") }
    var response = Tally_V1_CreateApiKeyResponse()
    response.apiKey = try Self.apiKey(row)
    response.key = key.text
    return response
  }

  /// Revoked keys a listing shows at most, the most recently revoked: a tenant that made and
  /// revoked keys for ever would otherwise list past the largest answer a frame holds.
  static let maxRevokedKeysListed = 1_000

  /// The unrevoked keys of `table` where `condition` holds, and with `$1` the most recently revoked
  /// ones, in the order they were made.
  private static func listKeysSQL(_ columns: String, from table: String, where condition: String) -> String {
    """
    SELECT * FROM (
      SELECT \(columns) FROM \(table) WHERE \(condition) AND revoked_at IS NULL
      UNION ALL
      (SELECT \(columns) FROM \(table) WHERE \(condition) AND $1 AND revoked_at IS NOT NULL
       ORDER BY revoked_at DESC, key_id LIMIT \(Self.maxRevokedKeysListed))
    ) listed ORDER BY created_us, key_id
    """
  }

  @Sendable func listApiKeys(_ request: Tally_V1_ListApiKeysRequest, _ context: RequestContext) async throws
    -> Tally_V1_ListApiKeysResponse
  {
    let target = try self.keyTarget(request.tenantID, context)
    let rows = try await self.pool.withTransaction(scope: target.scope) { connection in
      switch target {
      case .operator:
        try connection.query(
          Self.listKeysSQL(Self.operatorKeyColumns, from: "operator_api_keys", where: "$2::uuid IS NULL"),
          [request.includeRevoked, nil]
        )
        .rows
      case .tenant(let tenantID):
        try connection.query(
          Self.listKeysSQL(Self.tenantKeyColumns, from: "api_keys", where: "tenant_id = $2::uuid"),
          [request.includeRevoked, tenantID]
        ).rows
      }
    }
    var response = Tally_V1_ListApiKeysResponse()
    response.apiKeys = try rows.map(Self.apiKey)
    return response
  }

  @Sendable func revokeApiKey(_ request: Tally_V1_RevokeApiKeyRequest, _ context: RequestContext) async throws
    -> Tally_V1_ApiKey
  {
    guard
      Validation.consists(
        request.keyID, length: 1...64, of: { ("a"..."z").contains($0) || ("0"..."9").contains($0) })
    else {
      throw RPCError.invalidArgument(field: "key_id", "1 to 64 lower-case letters and digits: the <key id> of the key")
    }
    // An admin key works inside its tenant's rows only, so another tenant's key is simply not found;
    // so does an operator's call that acts on a tenant.
    let isOperator = context.principal.isOperator && context.tenantID == nil
    // Checked: a made-up tenant id failed in the database's uuid cast (INTERNAL).
    let scope: PostgresPool.Scope =
      isOperator ? .operator : .tenant(try Validation.uuid(context.tenantID ?? "", field: "tenant_id"))
    let row = try await self.pool.withTransaction(scope: scope) { connection -> PostgresRow? in
      let revoke = "SET revoked_at = coalesce(revoked_at, now()) WHERE key_id = $1 RETURNING"
      if let row = try connection.query("UPDATE api_keys \(revoke) \(Self.tenantKeyColumns)", [request.keyID]).rows
        .first
      {
        return row
      }
      guard isOperator else { return nil }
      return try connection.query("UPDATE operator_api_keys \(revoke) \(Self.operatorKeyColumns)", [request.keyID])
        .rows.first
    }
    guard let row else { throw RPCError(code: .notFound, message: "no API key \(request.keyID)") }
    self.keyChanges(.key(request.keyID))
    return try Self.apiKey(row)
  }

  /// Whose keys a call manages: an operator names a tenant or none; an admin key only its own tenant.
  private enum KeyTarget {
    case `operator`
    case tenant(String)

    var scope: PostgresPool.Scope {
      switch self {
      case .operator: .operator
      case .tenant(let id): .tenant(id)
      }
    }
  }

  private func keyTarget(_ requested: String, _ context: RequestContext) throws -> KeyTarget {
    if context.principal.isOperator {
      // A call acting on a tenant manages that tenant's keys only: it once listed the operator
      // keys, or made keys for the tenant its request named.
      if let header = context.tenantID {
        // Checked: a made-up tenant id failed in the database's uuid cast (INTERNAL).
        let acting = try Validation.uuid(header, field: "tenant_id")
        guard requested.isEmpty || requested.lowercased() == acting else {
          throw RPCError.invalidArgument(
            field: "tenant_id", "names \(requested.prefix(64)), but the call acts on tenant \(acting): name one of them"
          )
        }
        return .tenant(acting)
      }
      return requested.isEmpty ? .operator : .tenant(try Validation.uuid(requested, field: "tenant_id"))
    }
    // Its own tenant in any case, as a CALL header may name it; a made-up id is no tenant at all.
    let named = requested.isEmpty ? nil : try Validation.uuid(requested, field: "tenant_id")
    guard let own = context.principal.tenantID, named == nil || named == own else {
      throw RPCError(code: .permissionDenied, message: "an admin key manages the keys of its own tenant only")
    }
    return .tenant(own)
  }

  // MARK: Rows to messages

  private static func tenant(_ row: PostgresRow) throws -> Tally_V1_Tenant {
    var tenant = Tally_V1_Tenant()
    tenant.tenantID = try row.require(String.self, "tenant_id")
    tenant.name = try row.require(String.self, "name")
    tenant.currency = try row.require(String.self, "currency")
    tenant.status = try row.require(String.self, "status") == "suspended" ? .suspended : .active
    tenant.createdAt = timestamp(try row.require(Int64.self, "created_us"))
    if let suspended = try row.decode(Int64.self, "suspended_us") { tenant.suspendedAt = timestamp(suspended) }
    if let rate = try row.decode(Int.self, "calls_per_second") { tenant.callsPerSecond = UInt32(rate) }
    if let burst = try row.decode(Int.self, "call_burst") { tenant.callBurst = UInt32(burst) }
    return tenant
  }

  private static func apiKey(_ row: PostgresRow) throws -> Tally_V1_ApiKey {
    var key = Tally_V1_ApiKey()
    key.keyID = try row.require(String.self, "key_id")
    key.tenantID = try row.decode(String.self, "tenant_id") ?? ""
    key.name = try row.require(String.self, "name")
    key.scopes = PostgresArray.strings(try row.require(String.self, "scopes"))
    key.createdAt = timestamp(try row.require(Int64.self, "created_us"))
    if let revoked = try row.decode(Int64.self, "revoked_us") { key.revokedAt = timestamp(revoked) }
    return key
  }

  static func timestamp(_ microseconds: Int64) -> Google_Protobuf_Timestamp {
    Google_Protobuf_Timestamp(microseconds: microseconds)
  }

  static func randomHex(bytes: Int) -> String {
    Hex.encode(SecureRandom.bytes(bytes))
  }
}
