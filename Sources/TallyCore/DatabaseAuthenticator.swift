import Crypto
import Foundation
import NIOConcurrencyHelpers
public import TallyStore
import TallyWire

/// API keys from the database: HELLO looks the key up by id and compares SHA-256 hashes in constant
/// time; every call then re-checks (cached for `recheckInterval`) that the key is not revoked and its
/// tenant not suspended.
public final class DatabaseAuthenticator: Authenticator {
  private let pool: PostgresPool
  private let recheckInterval: Duration
  private let checked = NIOLockedValueBox<[String: ContinuousClock.Instant]>([:])

  public init(pool: PostgresPool, recheckInterval: Duration = .seconds(2)) {
    self.pool = pool
    self.recheckInterval = recheckInterval
  }

  /// SHA-256 of a key's secret, as stored.
  public static func hash(secret: String) -> [UInt8] {
    Array(SHA256.hash(data: Array(secret.utf8)))
  }

  public func authenticate(apiKey: String) async throws -> Principal {
    guard let key = APIKey(parsing: apiKey) else {
      throw RPCError(code: .unauthenticated, message: "the API key is not of the form tly_<key id>_<secret>")
    }
    guard let record = try await self.lookUp(key.keyID),
      APIKey.secretsMatch(record.secretHash, Self.hash(secret: key.secret))
    else {
      throw RPCError(code: .unauthenticated, message: "the API key is not valid")
    }
    try record.check()
    self.checked.withLockedValue { $0[key.keyID] = .now }
    return record.principal
  }

  public func revalidate(_ principal: Principal) async throws {
    let now = ContinuousClock.now
    if let last = self.checked.withLockedValue({ $0[principal.keyID] }), now - last < self.recheckInterval { return }
    guard let record = try await self.lookUp(principal.keyID) else {
      throw RPCError(code: .unauthenticated, message: "the API key no longer exists")
    }
    try record.check()
    self.checked.withLockedValue { $0[principal.keyID] = now }
  }

  private struct Record: Sendable {
    var principal: Principal
    var secretHash: [UInt8]
    var revoked: Bool
    var suspended: Bool

    func check() throws {
      if self.revoked { throw RPCError(code: .unauthenticated, message: "the API key was revoked") }
      if self.suspended { throw RPCError(code: .permissionDenied, message: "the key's tenant is suspended") }
    }
  }

  private func lookUp(_ keyID: String) async throws -> Record? {
    try await self.pool.withTransaction(scope: .operator) { connection in
      let rows = try connection.query(
        """
        SELECT NULL::text AS tenant_id, '{operator}'::text[] AS scopes, secret_sha256,
               revoked_at IS NOT NULL AS revoked, false AS suspended
        FROM operator_api_keys WHERE key_id = $1
        UNION ALL
        SELECT k.tenant_id::text, k.scopes, k.secret_sha256,
               k.revoked_at IS NOT NULL, t.status = 'suspended'
        FROM api_keys k JOIN tenants t ON t.tenant_id = k.tenant_id WHERE k.key_id = $1
        """,
        [keyID]
      ).rows
      guard let row = rows.first else { return nil }
      let scopes = try PostgresArray.strings(row.require(String.self, "scopes")).compactMap(Scope.init(rawValue:))
      return Record(
        principal: Principal(keyID: keyID, tenantID: try row.decode(String.self, "tenant_id"), scopes: Set(scopes)),
        secretHash: try PostgresArray.bytes(row.require(String.self, "secret_sha256")),
        revoked: try row.require(Bool.self, "revoked"),
        suspended: try row.require(Bool.self, "suspended")
      )
    }
  }
}
