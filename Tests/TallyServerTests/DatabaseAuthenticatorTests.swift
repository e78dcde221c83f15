import TallyCore
import TallyStore
import TallyTestSupport
import TallyWire
import Testing

@testable import TallyCore

/// Re-checks of a key against a real database: one look-up per key at a time, its verdict shared
/// by every call that waits for it, and a failed one never cached as a pass.
@Suite struct DatabaseAuthenticatorTests {
  /// Long enough that one look-up finishes within it on a loaded machine (the whole suite runs at
  /// once): with 300 ms, a slow look-up let later callers start a second one and the counts failed;
  /// 2 s once left too little for the 50 callers to start.
  static let interval: Duration = .seconds(4)

  /// Runs `calls` revalidations of `principal` at once while the pool's only connection is held,
  /// and lets the look-up run once all of them wait for it: a call that started after the look-up
  /// ended would make a second one, which is what these tests count.
  static func recheckTogether(
    _ calls: Int, _ principal: Principal, with authenticator: DatabaseAuthenticator, holding pool: PostgresPool
  ) async throws -> [RPCError.Code?] {
    let hold = try await HeldTransaction(pool, tenant: nil) { _ in }
    let gathered = Task {
      await withTaskGroup(of: RPCError.Code?.self) { group in
        for _ in 0..<calls {
          group.addTask {
            do {
              try await authenticator.revalidate(principal)
              return nil
            } catch {
              return (error as? RPCError)?.code ?? .internalError
            }
          }
        }
        return await group.reduce(into: []) { $0.append($1) }
      }
    }
    let joined = try await waitUntil(timeout: .seconds(3)) { authenticator.recheckCallerCount >= calls }
    try await hold.release()
    let codes = await gathered.value
    #expect(joined, "\(authenticator.recheckCallerCount) of \(calls) calls waited for the look-up")
    return codes
  }

  /// 50 calls find the key's check stale at once: one look-up answers them all.
  /// A flood of made-up key ids shares a few lanes of the pool's queue: each id had its own, so
  /// 10,000 ids took 10,000 turns for every one a tenant got.
  @Test func helloLookUpsShareAFewLanes() {
    let lanes = Set((0..<10_000).map { DatabaseAuthenticator.lookUpLane("k\($0)") })
    #expect(lanes.count <= DatabaseAuthenticator.lookUpLanes && lanes.count > 1)
    #expect(DatabaseAuthenticator.lookUpLane("same") == DatabaseAuthenticator.lookUpLane("same"))
  }

  @Test func concurrentRechecksOfAStaleKeyShareOneLookUp() async throws {
    let database = try await TestDatabase.create()
    let pool = database.pool(size: 1)
    defer { pool.close() }
    let authenticator = DatabaseAuthenticator(pool: pool, recheckInterval: Self.interval)
    // Connected first: HELLO's look-up counts from before it, and a slow first connect used up the interval.
    _ = try await pool.withConnection { try $0.query("SELECT 1") }
    let principal = try await authenticator.authenticate(apiKey: try database.createOperatorKey())
    try await authenticator.revalidate(principal)
    #expect(authenticator.recheckLookUpCount == 0, "fresh from HELLO")
    try await Task.sleep(for: Self.interval + .milliseconds(50))
    let codes = try await Self.recheckTogether(50, principal, with: authenticator, holding: pool)
    #expect(codes.count == 50 && codes.allSatisfy { $0 == nil }, "\(codes)")
    #expect(authenticator.recheckLookUpCount == 1)
  }

  /// A re-check a call starts runs outside that call's transaction mark: the look-up is shared by
  /// every call of the key, and with the mark it flagged the starting call's claim as written (here
  /// a mark that fails its transaction shows whether it rode along).
  @Test func aRecheckCarriesNoCallsMark() async throws {
    let database = try await TestDatabase.create()
    let pool = database.pool()
    defer { pool.close() }
    let authenticator = DatabaseAuthenticator(pool: pool, recheckInterval: .milliseconds(1))
    let principal = try await authenticator.authenticate(apiKey: try database.createOperatorKey())
    try await Task.sleep(for: .milliseconds(20))
    let failing = TransactionMark(setting: ("tally.call_id", "x"), statement: "SELECT 1/0")
    try await TransactionMark.$current.withValue(failing) { try await authenticator.revalidate(principal) }
    #expect(authenticator.recheckLookUpCount == 1)
  }

  /// A key revoked after HELLO fails every call waiting on the re-check, and the next call asks again.
  @Test func aRevocationFailsEveryWaitingCallAndIsNotCached() async throws {
    let database = try await TestDatabase.create()
    let pool = database.pool(size: 1)
    defer { pool.close() }
    let authenticator = DatabaseAuthenticator(pool: pool, recheckInterval: Self.interval)
    let principal = try await authenticator.authenticate(apiKey: try database.createOperatorKey(id: "revoked"))
    let owner = try TestDatabase.operatorOwnerConnection(ownerURL: database.ownerURL)
    defer { owner.close() }
    try owner.execute("UPDATE operator_api_keys SET revoked_at = now() WHERE key_id = 'revoked'")
    try await Task.sleep(for: Self.interval + .milliseconds(50))
    let codes = try await Self.recheckTogether(20, principal, with: authenticator, holding: pool)
    #expect(codes.count == 20 && codes.allSatisfy { $0 == .unauthenticated }, "\(codes)")
    #expect(authenticator.recheckLookUpCount == 1)
    await #expect(throws: RPCError.self) { try await authenticator.revalidate(principal) }
    #expect(authenticator.recheckLookUpCount == 2)
  }

  /// A forgotten pass is looked up again at the key's next check, however long the interval; a
  /// tenant's change forgets its keys only, and everything forgets all.
  @Test func aForgottenPassIsLookedUpAgainAtTheNextCheck() async throws {
    let database = try await TestDatabase.create()
    let pool = database.pool()
    defer { pool.close() }
    let authenticator = DatabaseAuthenticator(pool: pool, recheckInterval: .seconds(600))
    let first = try await authenticator.authenticate(apiKey: try database.createOperatorKey(id: "first"))
    let second = try await authenticator.authenticate(apiKey: try database.createOperatorKey(id: "second"))
    try await authenticator.revalidate(first)
    #expect(authenticator.recheckLookUpCount == 0, "fresh from HELLO")
    authenticator.forget(.key("first"))
    try await authenticator.revalidate(first)
    try await authenticator.revalidate(second)
    #expect(authenticator.recheckLookUpCount == 1, "only the forgotten key was looked up")
    authenticator.forget(.tenant("7d1c6c1e-0000-4000-8000-000000000000"))
    try await authenticator.revalidate(first)
    #expect(authenticator.recheckLookUpCount == 1, "another tenant's change forgets no operator key")
    authenticator.forget(.everything)
    try await authenticator.revalidate(first)
    try await authenticator.revalidate(second)
    #expect(authenticator.recheckLookUpCount == 3)
  }

  /// A look-up that was running when a change came may have read the row from before it: its
  /// callers get its verdict, but it keeps no pass, so the next check looks again.
  @Test func aLookUpOvertakenByAForgetKeepsNoPass() async throws {
    let database = try await TestDatabase.create()
    let pool = database.pool(size: 1)
    defer { pool.close() }
    let authenticator = DatabaseAuthenticator(pool: pool, recheckInterval: .seconds(600))
    let principal = try await authenticator.authenticate(apiKey: try database.createOperatorKey())
    authenticator.forget(.key(principal.keyID))
    let hold = try await HeldTransaction(pool, tenant: nil) { _ in }
    let overtaken = Task { try await authenticator.revalidate(principal) }
    #expect(try await waitUntil(timeout: .seconds(10)) { authenticator.recheckCallerCount == 1 })
    authenticator.forget(.key(principal.keyID))
    try await hold.release()
    try await overtaken.value
    #expect(authenticator.recheckLookUpCount == 1)
    try await authenticator.revalidate(principal)
    #expect(authenticator.recheckLookUpCount == 2, "the overtaken look-up's pass was kept")
    try await authenticator.revalidate(principal)
    #expect(authenticator.recheckLookUpCount == 2, "the second look-up's pass is kept")
  }

  /// The same for HELLO's look-up: a change that came while it ran leaves the connection accepted
  /// (it raced the change) but its first call looks again.
  @Test func aHelloOvertakenByAForgetKeepsNoPass() async throws {
    let database = try await TestDatabase.create()
    let pool = database.pool(size: 1)
    defer { pool.close() }
    let authenticator = DatabaseAuthenticator(pool: pool, recheckInterval: .seconds(600))
    let key = try database.createOperatorKey()
    let hold = try await HeldTransaction(pool, tenant: nil) { _ in }
    let hello = Task { try await authenticator.authenticate(apiKey: key) }
    #expect(try await waitUntil(timeout: .seconds(10)) { pool.usage.queued == 1 })
    authenticator.forget(.everything)
    try await hold.release()
    let principal = try await hello.value
    try await authenticator.revalidate(principal)
    #expect(authenticator.recheckLookUpCount == 1, "HELLO's look-up from before the change kept its pass")
  }

  @Test func notificationPayloadsNameTheirChange() {
    #expect(KeyChange(payload: "key:abc123") == .key("abc123"))
    #expect(
      KeyChange(payload: "tenant:7d1c6c1e-0000-4000-8000-000000000000")
        == .tenant("7d1c6c1e-0000-4000-8000-000000000000"))
    #expect(KeyChange(payload: "") == .everything)
    #expect(KeyChange(payload: "keys:abc") == .everything, "an unknown payload forgets too much, not too little")
  }
}
