import Foundation
public import TallyStore
import TallyWire

extension Access {
  /// Keys that may read a tenant's data.
  public static let tenantRead = Access.scopes([.operator, .admin, .write, .read])
  /// Keys that may change a tenant's data.
  public static let tenantWrite = Access.scopes([.operator, .admin, .write])
}

/// Runs a data call's work in a transaction that row-level security fences to the call's tenant.
public struct TenantDatabase: Sendable {
  public let pool: PostgresPool

  public init(pool: PostgresPool) { self.pool = pool }

  /// The tenant the call acts on: the key's own, or the one an operator key named.
  static func tenant(of context: RequestContext) throws -> String {
    guard let tenant = context.tenantID else {
      throw RPCError(
        code: .invalidArgument,
        message: "an operator key must name the tenant to act on (CallHeader.tenant_id, tally --tenant)"
      )
    }
    return try Validation.uuid(tenant, field: "tenant_id")
  }

  /// Runs `body` in the call tenant's transaction, with `settings` (`SET LOCAL`s). An operator's
  /// named tenant must exist (a tenant key's tenant was checked when it authenticated).
  func transaction<T: Sendable>(
    _ context: RequestContext,
    settings: [(name: String, value: String)] = [],
    _ body: @escaping @Sendable (PostgresConnection) throws -> T
  ) async throws -> T {
    try await self.transaction(
      tenant: try Self.tenant(of: context), checkingTenant: context.principal.isOperator, settings: settings, body)
  }

  /// Runs `body` in `tenant`'s transaction, first checking that the tenant exists when an operator
  /// key named it.
  func transaction<T: Sendable>(
    tenant: String,
    checkingTenant mustCheck: Bool,
    settings: [(name: String, value: String)] = [],
    _ body: @escaping @Sendable (PostgresConnection) throws -> T
  ) async throws -> T {
    try await self.pool.withTransaction(scope: .tenant(tenant), settings: settings) { connection in
      try Self.checkTenant(tenant, mustCheck, connection)
      return try body(connection)
    }
  }

  /// Refuses the call now if an operator key named no tenant, or one that does not exist: for a
  /// call whose work may not reach a transaction (a stream of only invalid events).
  func checkTenant(_ context: RequestContext) async throws {
    let tenant = try Self.tenant(of: context)
    guard context.principal.isOperator else { return }
    // It writes nothing, so it does not mark the call's idempotency claim as written (TransactionMark).
    try await TransactionMark.$current.withValue(nil) {
      try await self.transaction(tenant: tenant, checkingTenant: true) { _ in }
    }
  }

  /// Runs `body` in a read-only transaction of the call's tenant over one snapshot, with `settings`
  /// (`SET LOCAL`s) that a helper connection of `SnapshotReads.run` gets too.
  func snapshotRead<T: Sendable>(
    _ context: RequestContext,
    settings: [(name: String, value: String)],
    _ body: @escaping @Sendable (SnapshotReads) throws -> T
  ) async throws -> T {
    let tenant = try Self.tenant(of: context)
    let mustCheck = context.principal.isOperator
    return try await self.pool.withSnapshotRead(scope: .tenant(tenant), settings: settings) { reads in
      try Self.checkTenant(tenant, mustCheck, reads.connection)
      return try body(reads)
    }
  }

  private static func checkTenant(_ tenant: String, _ mustCheck: Bool, _ connection: PostgresConnection) throws {
    guard mustCheck else { return }
    let found = try connection.query("SELECT 1 FROM tenants WHERE tenant_id = $1::uuid", [tenant]).rows
    guard !found.isEmpty else { throw RPCError(code: .notFound, message: "no tenant \(tenant)") }
  }
}

/// Page tokens for lists ordered by a client-chosen text id.
enum IDPageToken {
  static func encode(afterID id: String) -> String {
    Data("k1|\(id)".utf8).base64EncodedString()
  }

  /// A list request's page size and position, their violations gathered in `checker` with the
  /// request's other fields, so that one answer names every bad field (0 and nil when bad).
  static func read(size: UInt32, token: String, into checker: inout FieldChecker) throws -> (size: Int, after: String?)
  {
    let size = try Validation.collecting(&checker) { try Validation.pageSize(size) } ?? 0
    let after = try Validation.collecting(&checker) { try Self.decode(token) } ?? nil
    return (size, after)
  }

  static func decode(_ token: String) throws -> String? {
    guard !token.isEmpty else { return nil }
    // The prefix is checked on bytes: as text, an id starting with a combining mark joins its `|`
    // into one character, and the server would refuse the token it issued.
    let prefix = Array("k1|".utf8)
    // An id the server could never have issued (a NUL, say, which PostgreSQL refuses) is no token
    // either: refused here with its field, not by the connection's last check without one.
    guard let data = Data(base64Encoded: token), data.starts(with: prefix),
      let id = String(validating: data.dropFirst(prefix.count), as: UTF8.self), !id.utf8.contains(0)
    else {
      throw RPCError.invalidArgument(field: "page_token", "is not a token this server issued; start without one")
    }
    return id
  }

  /// The first `pageSize` of `rows` (queried with one extra to learn whether more follow) as
  /// messages, and the token of the next page, empty on the last.
  static func page<M>(
    _ rows: [PostgresRow],
    _ pageSize: Int,
    _ message: (PostgresRow) throws -> M,
    id: (M) -> String
  ) throws -> ([M], String) {
    let items = try rows.prefix(pageSize).map(message)
    guard rows.count > pageSize, let last = items.last else { return (items, "") }
    return (items, Self.encode(afterID: id(last)))
  }
}

/// The ABM data services (accounts, campaigns, opportunities, events) over one pool.
public struct ABMDataServices: Sendable {
  public let database: TenantDatabase
  /// What RecordEvents stores, repeats and refuses, for the metrics.
  let ingestCounters: IngestCounters

  public init(pool: PostgresPool, ingestCounters: IngestCounters = .none) {
    self.database = TenantDatabase(pool: pool)
    self.ingestCounters = ingestCounters
  }

  public func register(into router: inout Router) {
    AccountService(database: self.database).register(into: &router)
    CampaignService(database: self.database).register(into: &router)
    OpportunityService(database: self.database).register(into: &router)
    EventService(database: self.database, counters: self.ingestCounters).register(into: &router)
  }
}
