import Crypto
import Foundation
import NIOConcurrencyHelpers
public import TallyStore
import TallyWire

/// API keys from the database: HELLO looks the key up by id and compares SHA-256 hashes in constant
/// time; every call then re-checks (cached for `recheckInterval`, or until `forget` hears of a
/// revocation or suspension) that the key is not revoked and its tenant not suspended. One look-up
/// per key at a time: the calls that find the cache stale while one runs wait for it, if it started
/// within `recheckInterval`, instead of each asking the database (at 200,000 calls/s every stale
/// moment queued hundreds of look-ups and stalled calls for up to 2 s; docs/BENCHMARKS.md).
public final class DatabaseAuthenticator: Authenticator {
  private let pool: PostgresPool
  private let recheckInterval: Duration
  private let state = NIOLockedValueBox(State())
  private let recheckCounts = NIOLockedValueBox((lookUps: 0, callers: 0))
  /// Look-ups made for re-checks, so that tests can see that concurrent calls share one.
  var recheckLookUpCount: Int { self.recheckCounts.withLockedValue { $0.lookUps } }
  /// Calls that waited for a re-check's look-up (started it or joined it), so that a test can
  /// hold the look-up until every call it races has joined.
  var recheckCallerCount: Int { self.recheckCounts.withLockedValue { $0.callers } }

  /// When a key last passed, and the re-check under way, if any.
  private struct KeyCheck {
    var tenantID: String?
    var passedAt: ContinuousClock.Instant?
    var running: (started: ContinuousClock.Instant, lookUp: Task<Void, any Error>)?
  }

  private struct State {
    var checks: [String: KeyCheck] = [:]
    /// Counts `forget`s: a look-up that saw another one begin while it ran keeps no pass, since
    /// it may have read the row from before the change.
    var forgets = 0
  }

  public init(pool: PostgresPool, recheckInterval: Duration = .seconds(2)) {
    self.pool = pool
    self.recheckInterval = recheckInterval
  }

  /// HELLO look-ups share this many lanes of the pool's queue, by their key id's hash (seeded per
  /// process): a storm of new connections takes turns beside the tenants, and a flood of made-up
  /// key ids takes at most these turns, where each id had a lane, and so a turn, of its own.
  static let lookUpLanes = 16

  static func lookUpLane(_ keyID: String) -> PostgresPool.Lane {
    .apiKey(String(UInt(bitPattern: keyID.hashValue) % UInt(Self.lookUpLanes)))
  }

  /// SHA-256 of a key's secret, as stored.
  public static func hash(secret: String) -> [UInt8] {
    Array(SHA256.hash(data: Array(secret.utf8)))
  }

  public func authenticate(apiKey: String) async throws -> Principal {
    guard let key = APIKey(parsing: apiKey) else {
      throw RPCError(code: .unauthenticated, message: "the API key is not of the form tly_<key id>_<secret>")
    }
    // The pass dates from before the look-up read the row: a revocation committed while it ran is
    // then re-checked within `recheckInterval` of the revocation, not of a slow look-up's end.
    let started = ContinuousClock.now
    let forgets = self.state.withLockedValue { $0.forgets }
    guard let record = try await self.lookUp(key.keyID, lane: Self.lookUpLane(key.keyID)),
      APIKey.secretsMatch(record.secretHash, Self.hash(secret: key.secret))
    else {
      throw RPCError(code: .unauthenticated, message: "the API key is not valid")
    }
    try record.check()
    self.state.withLockedValue { state in
      guard state.forgets == forgets, state.checks[key.keyID]?.passedAt.map({ $0 < started }) ?? true else { return }
      state.checks[key.keyID, default: KeyCheck(tenantID: record.principal.tenantID)].passedAt = started
    }
    return record.principal
  }

  /// Drops the passes `change` may have ended, and stops sharing look-ups that started before it:
  /// the next call of those keys asks the database again (DESIGN: revocation takes effect on the
  /// next call). Called when a revocation or suspension commits (`KeyChange`).
  public func forget(_ change: KeyChange) {
    self.state.withLockedValue { state in
      state.forgets &+= 1
      switch change {
      case .key(let keyID): state.checks[keyID] = nil
      case .tenant(let tenantID): state.checks = state.checks.filter { $0.value.tenantID != tenantID }
      case .everything: state.checks = [:]
      }
    }
  }

  public func revalidate(_ principal: Principal) async throws {
    let keyID = principal.keyID
    let now = ContinuousClock.now
    let lookUp: Task<Void, any Error>? = self.state.withLockedValue { state in
      var check = state.checks[keyID, default: KeyCheck(tenantID: principal.tenantID)]
      if let passedAt = check.passedAt, now - passedAt < self.recheckInterval { return nil }
      if let running = check.running, now - running.started < self.recheckInterval { return running.lookUp }
      let lane: PostgresPool.Lane = principal.tenantID.map { .tenant($0) } ?? .apiKey(keyID)
      // Detached: shared by every call of the key, it must not carry the starting call's task
      // locals, its TransactionMark above all (its look-up would mark that call's claim written).
      let forgets = state.forgets
      let lookUp = Task.detached { try await self.recheck(keyID, lane: lane, started: now, forgets: forgets) }
      check.running = (now, lookUp)
      state.checks[keyID] = check
      return lookUp
    }
    guard let lookUp else { return }
    self.recheckCounts.withLockedValue { $0.callers += 1 }
    try await lookUp.value
  }

  /// One re-check of `keyID`, shared by the calls that wait for it.
  private func recheck(
    _ keyID: String, lane: PostgresPool.Lane, started: ContinuousClock.Instant, forgets: Int
  ) async throws {
    self.recheckCounts.withLockedValue { $0.lookUps += 1 }
    let outcome: Result<Void, any Error>
    do {
      guard let record = try await self.lookUp(keyID, lane: lane) else {
        throw RPCError(code: .unauthenticated, message: "the API key no longer exists")
      }
      try record.check()
      outcome = .success(())
    } catch {
      outcome = .failure(error)
    }
    self.state.withLockedValue { state in
      guard var check = state.checks[keyID] else { return }
      if case .success = outcome, state.forgets == forgets, check.passedAt.map({ $0 < started }) ?? true {
        check.passedAt = started
      }
      if check.running?.started == started { check.running = nil }
      state.checks[keyID] = check
    }
    try outcome.get()
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

  /// Reads the key with the operator's scope. A tenant key's re-check waits for a connection in
  /// its tenant's lane (the pool serves lanes by turns); HELLO's look-up in one of a few lanes by
  /// key id (`lookUpLane`), and an operator key's re-check in a lane of the key's own.
  private func lookUp(_ keyID: String, lane: PostgresPool.Lane) async throws -> Record? {
    try await self.pool.withTransaction(scope: .operator, lane: lane) { connection in
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
