import Crypto
import Foundation
import Logging
import NIOCore
import SwiftProtobuf
public import TallyStore
import TallyWire

/// `idempotency_key` (PROTOCOL.md): a tenant's write repeated with the key of a finished call gets
/// the first call's response, and does not run again, for 24 hours.
///
/// The first call claims the key in a transaction of its own before it runs and stores its sealed
/// response once it succeeds; a failure releases the key, so a retry runs, and a success never
/// does, even when its response cannot be stored (docs/PROTOCOL.md). Each of the call's write
/// transactions marks the claim as it commits, so a claim is taken over (its server stopped) only
/// when none of them did. A repeat while the first still runs is ABORTED (retry later); one with
/// another method or other request messages is INVALID_ARGUMENT. Keys are per tenant; the
/// operator's calls that name no tenant (creating tenants, say), and its key and tenant calls
/// whatever they name, share one scope of their own.
/// SubmitResponse is not replayed: its token makes a repeat ALREADY_EXISTS, and its call must
/// leave nothing behind that could tie an answer to a person.
public struct IdempotentCalls: Sendable {
  static let retention = "24 hours"
  /// A claim older than this whose call never finished (its server stopped) may be taken over.
  static let abandoned = "15 minutes"
  static let maxKeyLength = 128

  private let database: TenantDatabase

  public init(pool: PostgresPool) { self.database = TenantDatabase(pool: pool) }

  /// The writes a repeated key replays: every write of a tenant's data, its API keys, and the
  /// operator's tenants.
  static let replayedAdminMethods: Set<String> = [
    AdminMethods.createApiKey.fullName, AdminMethods.revokeApiKey.fullName, AdminMethods.createTenant.fullName,
    AdminMethods.suspendTenant.fullName, AdminMethods.resumeTenant.fullName, AdminMethods.setTenantCallRate.fullName,
  ]

  static func replays(_ method: RoutedMethod) -> Bool {
    guard method.kind != .serverStreaming, method.fullName != SurveyMethods.submitResponse.fullName else {
      return false
    }
    return method.access == .tenantWrite || Self.replayedAdminMethods.contains(method.fullName)
  }

  /// Where a call's result is kept: with its tenant's data, or the operator's when it names none.
  enum Scope: Sendable {
    case tenant(String)
    case `operator`

    var table: String {
      switch self {
      case .tenant: "call_results"
      case .operator: "operator_call_results"
      }
    }

    /// The claim's row, up to its ON CONFLICT target; a tenant's names its tenant.
    var insertClaim: String {
      switch self {
      case .tenant:
        "INSERT INTO call_results (tenant_id, call_id, method) VALUES (\(currentTenantSQL), decode($1, 'hex'), $2)"
          + " ON CONFLICT (tenant_id, call_id)"
      case .operator:
        "INSERT INTO operator_call_results (call_id, method) VALUES (decode($1, 'hex'), $2) ON CONFLICT (call_id)"
      }
    }

    /// The statement each of the call's write transactions runs first, in whatever scope: it marks
    /// the claim named by `tally.call_id` and `claimID` as the transaction commits, and fails the
    /// transaction when a repeat has taken the claim over. `tenant` is a checked UUID, `claimID`
    /// one PostgreSQL gave.
    func mark(callID: String, claimID: UUID) -> TransactionMark {
      let tenant =
        switch self {
        case .tenant(let tenant): "'\(tenant)'::uuid"
        case .operator: "NULL"
        }
      return TransactionMark(
        setting: ("tally.call_id", callID),
        statement: "SELECT mark_call_wrote(\(tenant), '\(claimID.uuidString.lowercased())'::uuid)")
    }

    /// What the call id and the seal are salted with: the tenant's id, or a name no id can be.
    var salt: String {
      switch self {
      case .tenant(let tenant): tenant
      case .operator: "operator"
      }
    }
  }

  /// The keys of one call: where its result is stored, and what seals it.
  struct Keys {
    let scope: Scope
    /// SHA-256 of the scope's salt and the idempotency key: the stored row's id.
    let callID: String
    let seal: SymmetricKey
    let mac: SymmetricKey

    init(scope: Scope, idempotencyKey: String) {
      self.scope = scope
      let material = SymmetricKey(data: Array(idempotencyKey.utf8))
      let salt = Array(scope.salt.utf8)
      self.callID = Hex.encode(SHA256.hash(data: salt + [0] + Array(idempotencyKey.utf8)))
      self.seal = HKDF<SHA256>.deriveKey(
        inputKeyMaterial: material, salt: salt, info: Array("tally.v1 call result".utf8), outputByteCount: 32)
      self.mac = HKDF<SHA256>.deriveKey(
        inputKeyMaterial: material, salt: salt, info: Array("tally.v1 call request".utf8), outputByteCount: 32)
    }
  }

  /// The request messages' MAC, built as they are read.
  struct RequestMAC {
    private var hmac: HMAC<SHA256>

    /// An operator's store keeps the calls of every tenant it acts on, so there the tenant its CALL
    /// named is part of the request: the same CreateApiKey for another tenant is another request
    /// (it replayed the first tenant's new key, secret and all).
    init(_ keys: Keys, method: String, tenant: String?) {
      self.hmac = HMAC(key: keys.mac)
      self.hmac.update(data: Array(method.utf8) + [0])
      if case .operator = keys.scope, let tenant {
        self.hmac.update(data: Array("tenant".utf8) + [0] + Array(tenant.lowercased().utf8) + [0])
      }
    }

    mutating func add(_ message: ByteBuffer) {
      // Each message's length first, so that two ways of cutting the same bytes differ.
      var length = UInt64(message.readableBytes).bigEndian
      withUnsafeBytes(of: &length) { self.hmac.update(data: $0) }
      message.withUnsafeReadableBytes { self.hmac.update(data: $0) }
    }

    func finalize() -> String { Hex.encode(self.hmac.finalize()) }
  }

  /// What the claim found.
  enum Claim {
    /// Run the call: the key is this call's now, under this claim id (a new one when taken over).
    case run(claimID: UUID)
    /// A finished call's method, request MAC and sealed response.
    case finished(method: String, requestMAC: String?, sealedResponse: [UInt8])
  }

  /// `method` with its body wrapped, or nil when its calls are never replayed.
  func wrap(_ method: RoutedMethod) -> RoutedMethod.Body? {
    guard Self.replays(method) else { return nil }
    let responseType = method.responseType
    switch method.body {
    case .unary(let body):
      return .unary { payload, context in
        guard let keys = try Self.keys(context) else { return try await body(payload, context) }
        var requestMAC = RequestMAC(keys, method: context.method, tenant: context.tenantID)
        requestMAC.add(payload)
        let mac = requestMAC.finalize()
        return try await self.call(keys, responseType, context) {
          try await body(payload, context)
        } readMAC: {
          mac
        }
      }
    case .clientStreaming(let body):
      return .clientStreaming { requests, context in
        guard let keys = try Self.keys(context) else { return try await body(requests, context) }
        let reader = MACReader(requests, RequestMAC(keys, method: context.method, tenant: context.tenantID))
        return try await self.call(keys, responseType, context) {
          try await body(reader.stream, context)
        } readMAC: {
          try await reader.drain()
          return reader.mac
        }
      }
    case .serverStreaming:
      return nil
    }
  }

  /// The idempotency key of the call's CALL, checked, with its scope; nil when it has none.
  static func keys(_ context: RequestContext) throws -> Keys? {
    guard let key = context.idempotencyKey, !key.isEmpty else { return nil }
    guard key.utf8.count <= Self.maxKeyLength, key.unicodeScalars.allSatisfy({ (0x21...0x7E).contains($0.value) })
    else {
      throw RPCError.invalidArgument(
        field: "idempotency_key",
        "must be 1 to \(Self.maxKeyLength) printable ASCII characters without spaces (a UUID, say)")
    }
    // An operator's admin calls are kept in its own store whatever tenant the CALL names: kept with
    // that tenant's results, their answers (a new key, of any tenant or the operator) would replay
    // to the tenant's admin key, which repeating them skips the handler's own checks for.
    if context.principal.isOperator, Self.replayedAdminMethods.contains(context.method) {
      return Keys(scope: .operator, idempotencyKey: key)
    }
    if let tenant = context.tenantID {
      return Keys(scope: .tenant(try Validation.uuid(tenant, field: "tenant_id")), idempotencyKey: key)
    }
    return context.principal.isOperator ? Keys(scope: .operator, idempotencyKey: key) : nil
  }

  /// Runs `body` where the call's result is kept: its tenant's transaction, or the operator's.
  private func transaction<T: Sendable>(
    _ scope: Scope,
    _ context: RequestContext,
    settings: [(name: String, value: String)] = [],
    _ body: @escaping @Sendable (PostgresConnection) throws -> T
  ) async throws -> T {
    switch scope {
    case .tenant: try await self.database.transaction(context, settings: settings, body)
    case .operator: try await self.database.pool.withTransaction(scope: .operator, settings: settings, body)
    }
  }

  /// How long a repeat waits for the claim's row while one of the first call's transactions,
  /// which marks it, runs: longer, it would hold one of the connections every tenant shares.
  static let claimLockTimeout = "100ms"

  /// A claim the first call's running transaction holds: it still runs.
  static let stillRunning = RPCError(
    code: .aborted, message: "a call with this idempotency_key is still running; retry once it has finished",
    retryAfter: .seconds(1))

  /// Claims the key and runs `run`, or answers from the finished call that holds it. `readMAC`
  /// gives the request messages' MAC, reading what is left of them (a client-streaming call's
  /// messages are still to come when it claims, so the MAC is stored with the response).
  private func call(
    _ keys: Keys,
    _ responseType: any Message.Type,
    _ context: RequestContext,
    run: () async throws -> any Message,
    readMAC: () async throws -> String
  ) async throws -> any Message {
    switch try await self.claim(keys, context) {
    case .finished(let method, let storedMAC, let sealed):
      let mac = try await readMAC()
      guard method == context.method, storedMAC == mac else {
        throw RPCError.invalidArgument(
          field: "idempotency_key",
          "was used in the last \(Self.retention) for another request (\(method)); use a new key for a new request")
      }
      let bytes = try AES.GCM.open(try AES.GCM.SealedBox(combined: sealed), using: keys.seal)
      return try responseType.init(serializedBytes: bytes)
    case .run(let claimID):
      let response: any Message
      do {
        response = try await TransactionMark.$current.withValue(keys.scope.mark(callID: keys.callID, claimID: claimID))
        {
          try await run()
        }
      } catch {
        if Self.mayHaveCommitted(error) {
          context.logger.error(
            "the database connection was lost with a COMMIT sent: the idempotency_key stays claimed",
            metadata: ["error": "\(String(reflecting: error))"])
          throw error
        }
        // Failed calls change nothing (their transactions roll back): a retry runs again.
        _ = try? await self.outlivingCancellation(keys, context) { [callID = keys.callID, table = keys.scope.table] in
          try $0.query(
            "DELETE FROM \(table) WHERE call_id = decode($1, 'hex') AND claim_id = $2::uuid",
            [callID, claimID.uuidString])
        }
        throw error
      }
      // The call's writes are committed from here on: its claim is never released, so a repeat
      // never runs them twice. Without a stored response, repeats are refused until it expires.
      do {
        let mac = try await readMAC()
        let sealed = Hex.encode(try AES.GCM.seal(try response.serializedBytes() as [UInt8], using: keys.seal).combined!)
        _ = try await self.outlivingCancellation(keys, context) { [callID = keys.callID, table = keys.scope.table] in
          try $0.query(
            """
            UPDATE \(table) SET sealed_response = decode($2, 'hex'), request_mac = decode($3, 'hex')
            WHERE call_id = decode($1, 'hex') AND claim_id = $4::uuid
            """, [callID, sealed, mac, claimID.uuidString])
        }
      } catch {
        context.logger.error(
          "a finished call's response could not be kept for its idempotency_key; repeats get ABORTED",
          metadata: ["error": "\(String(reflecting: error))"])
      }
      return response
    }
  }

  /// Whether `error` broke a connection with COMMIT sent: the call's writes may be stored.
  static func mayHaveCommitted(_ error: any Error) -> Bool {
    let cause = (error as? RPCError)?.cause ?? error
    return (cause as? PostgresError)?.commitOutcomeUnknown ?? false
  }

  /// Runs `body` in the call's result table even when the call has been cancelled or is past its
  /// deadline: a call cut off there must still free its key, or keep the response of its writes.
  private func outlivingCancellation<T: Sendable>(
    _ keys: Keys,
    _ context: RequestContext,
    _ body: @escaping @Sendable (PostgresConnection) throws -> T
  ) async throws -> T {
    let scope = keys.scope
    return try await Task { try await self.transaction(scope, context, body) }.value
  }

  private func claim(_ keys: Keys, _ context: RequestContext) async throws -> Claim {
    let (method, callID, table, insertClaim) = (context.method, keys.callID, keys.scope.table, keys.scope.insertClaim)
    let settings = [(name: "lock_timeout", value: Self.claimLockTimeout)]
    let found = try await self.transaction(keys.scope, context, settings: settings) { connection -> ClaimRow in
      do {
        return try Self.claim(callID, method, table, insertClaim, connection)
      } catch let error as PostgresError where error.sqlState == "55P03" {
        throw Self.stillRunning  // lock_not_available: the claim's row stayed locked past the timeout
      }
    }
    let row: PostgresRow
    switch found {
    case .claimed(let claimID): return .run(claimID: claimID)
    case .held(let held): row = held
    }
    guard let sealed = try row.decode(String.self, "sealed_response") else {
      if try row.require(Bool.self, "response_lost") {
        throw RPCError.failedPrecondition(
          field: "idempotency_key",
          "belongs to a call that committed writes, then neither wrote nor answered for \(Self.abandoned) (its"
            + " server stopped): it does not run again; read the data to see what it did, and use a new key for a"
            + " new request")
      }
      throw Self.stillRunning
    }
    return .finished(
      method: try row.require(String.self, "method"), requestMAC: try row.decode(String.self, "request_mac"),
      sealedResponse: try PostgresArray.bytes(sealed))
  }

  /// What the claim's statements found: the key is this call's now, or another call's row holds it.
  private enum ClaimRow {
    case claimed(UUID)
    case held(PostgresRow)
  }

  /// The claim's statements: the claim id when the key is this call's now, else the row that holds it.
  ///
  /// A row past its 24 hours, or one whose call never wrote and stopped answering 15 minutes ago
  /// (its server stopped), is taken over in place. Any other is locked, not changed (an update
  /// that never applies still locks the row), so that a failed call's release cannot delete it
  /// between here and the SELECT: the SELECT would then find nothing, and the call would run
  /// without any claim. Only this one row is locked, so `lock_timeout` waits for nothing else
  /// (tallyd's hourly maintenance removes every tenant's expired rows).
  private static func claim(
    _ callID: String, _ method: String, _ table: String, _ insertClaim: String, _ connection: PostgresConnection
  ) throws -> ClaimRow {
    let claimed = try connection.query(
      """
      \(insertClaim) DO UPDATE SET method = EXCLUDED.method, claimed_at = now(), request_mac = NULL,
        sealed_response = NULL, wrote_at = NULL, claim_id = gen_random_uuid()
      WHERE \(table).claimed_at < now() - interval '\(Self.retention)'
        OR (\(table).sealed_response IS NULL AND \(table).wrote_at IS NULL
          AND \(table).claimed_at < now() - interval '\(Self.abandoned)')
      RETURNING claim_id::text AS claim_id
      """, [callID, method])
    if let row = claimed.rows.first {
      guard let claimID = UUID(uuidString: try row.require(String.self, "claim_id")) else {
        throw RPCError(code: .internalError, message: "the database gave a claim id that is not a UUID")
      }
      return .claimed(claimID)
    }
    guard
      let held = try connection.query(
        """
        SELECT method, encode(request_mac, 'hex') AS request_mac, sealed_response,
          coalesce(wrote_at < now() - interval '\(Self.abandoned)', false) AS response_lost
        FROM \(table) WHERE call_id = decode($1, 'hex')
        """, [callID]
      ).rows.first
    else {
      throw RPCError(code: .internalError, message: "the idempotency claim was neither made nor found")
    }
    return .held(held)
  }
}

extension Router {
  /// Makes every write replay a repeated `idempotency_key` (`IdempotentCalls`).
  public mutating func replayRepeatedWrites(_ calls: IdempotentCalls) {
    self.wrapBodies(calls.wrap)
  }
}

/// The request messages of a client-streaming call, MACed as they pass. Read by one task at a
/// time (the handler, then `drain`), which is what makes the unchecked `Sendable` sound.
final class MACReader: @unchecked Sendable {
  private var iterator: any RawMessageIterator
  private var requestMAC: IdempotentCalls.RequestMAC
  private var ended = false

  init(_ requests: RawRequestStream, _ mac: IdempotentCalls.RequestMAC) {
    self.iterator = requests.makeIterator()
    self.requestMAC = mac
  }

  /// The messages as the handler reads them.
  var stream: RawRequestStream { RawRequestStream { Iterator(reader: self) } }

  var mac: String { self.requestMAC.finalize() }

  func next() async throws -> ByteBuffer? {
    guard !self.ended else { return nil }
    guard let message = try await self.iterator.next() else {
      self.ended = true
      return nil
    }
    self.requestMAC.add(message)
    return message
  }

  /// Reads the messages the handler left, or all of them for a repeat that does not run.
  func drain() async throws {
    while try await self.next() != nil {}
  }

  struct Iterator: RawMessageIterator {
    let reader: MACReader
    mutating func next() async throws -> ByteBuffer? { try await self.reader.next() }
  }
}
