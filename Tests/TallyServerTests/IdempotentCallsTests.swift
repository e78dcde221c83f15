import Foundation
import SwiftProtobuf
import TallyClient
import TallyProto
import TallyStore
import TallyTestSupport
import TallyWire
import Testing

/// `idempotency_key` (PROTOCOL.md): a repeated write gets the first call's response and does not
/// run again; another request under the same key, a bad key, and another tenant's key do not.
@Suite struct IdempotentCallsTests {
  private func key(_ name: String) -> CallOptions { CallOptions(idempotencyKey: "\(name)-\(UUID().uuidString)") }

  /// Tenant A's account "acme", stored, then locked by a transaction of the test's until released.
  private func lockedAccount(_ context: DataTestContext) async throws -> HeldTransaction {
    _ = try await context.clientA.unary(AccountMethods.upsertAccount, Fixture.upsert(Fixture.account("acme")))
    return try await HeldTransaction(context.pool, tenant: context.tenantA) { connection in
      try connection.query("SELECT 1 FROM accounts WHERE account_id = 'acme' FOR UPDATE")
    }
  }

  /// Tenant A's idempotency claims (its `call_results` rows).
  private func claims(_ context: DataTestContext) async throws -> Int64 {
    try await context.pool.withTransaction(tenant: context.tenantA) { connection in
      try connection.query("SELECT count(*)::int8 AS n FROM call_results").rows[0].require(Int64.self, "n")
    }
  }

  /// Tenant A's claims once they are no longer `count`, or after `timeout`: a call's claim comes
  /// and goes on the server's time.
  private func claims(_ context: DataTestContext, onceNot count: Int64, within timeout: Duration) async throws -> Int64
  {
    let deadline = ContinuousClock.now + timeout
    var claims = try await self.claims(context)
    while claims == count, ContinuousClock.now < deadline {
      try await Task.sleep(for: .milliseconds(10))
      claims = try await self.claims(context)
    }
    return claims
  }

  @Test func aRepeatedCreateReturnsTheFirstSurveyAndCreatesNoOther() async throws {
    try await DataTestContext.with { context in
      let a = context.clientA
      let once = self.key("create")
      let first = try await a.unary(SurveyMethods.createSurvey, SurveyFixture.survey("enps"), options: once)
      let again = try await a.unary(SurveyMethods.createSurvey, SurveyFixture.survey("enps"), options: once)
      #expect(again == first)
      // The same key with another request is refused, and stores nothing.
      let other = await expectStatus(.invalidArgument) {
        try await a.unary(SurveyMethods.createSurvey, SurveyFixture.survey("enps", title: "Other"), options: once)
      }
      #expect(other?.fieldViolations.first?.field == "idempotency_key")
      // Another tenant's call under the same key is its own.
      let theirs = try await context.clientB.unary(
        SurveyMethods.createSurvey, SurveyFixture.survey("enps"), options: once)
      #expect(theirs.id != first.id)
      #expect(try await a.unary(SurveyMethods.listSurveys, .init()).surveys.map(\.id) == [first.id])
      #expect(try await context.clientB.unary(SurveyMethods.listSurveys, .init()).surveys.map(\.id) == [theirs.id])
      // Without a key, a repeat runs again.
      _ = try await a.unary(SurveyMethods.createSurvey, SurveyFixture.survey("enps"))
      #expect(try await a.unary(SurveyMethods.listSurveys, .init()).surveys.count == 2)
    }
  }

  @Test func aFailedCallLeavesTheKeyFreeAndABadKeyIsRefused() async throws {
    try await DataTestContext.with { context in
      let a = context.clientA
      let once = self.key("retry")
      await expectViolation("survey.kind") {
        try await a.unary(SurveyMethods.createSurvey, SurveyFixture.survey("poll"), options: once)
      }
      let created = try await a.unary(SurveyMethods.createSurvey, SurveyFixture.survey("enps"), options: once)
      #expect(try await a.unary(SurveyMethods.listSurveys, .init()).surveys.map(\.id) == [created.id])
      for bad in ["has space", String(repeating: "k", count: 129), "naïve"] {
        await expectViolation("idempotency_key") {
          try await a.unary(
            SurveyMethods.createSurvey, SurveyFixture.survey("enps"), options: CallOptions(idempotencyKey: bad))
        }
      }
      #expect(try await a.unary(SurveyMethods.listSurveys, .init()).surveys.count == 1)
    }
  }

  /// A key whose first call still runs is ABORTED; a claim left by a call that never finished (its
  /// server stopped) is taken over after 15 minutes.
  @Test func aKeyStillClaimedIsAbortedUntilItsClaimIsAbandoned() async throws {
    try await DataTestContext.with { context in
      let once = self.key("claimed")
      let key = once.idempotencyKey!
      // The claim a running call holds, as IdempotentCalls writes it.
      try await context.pool.withTransaction(tenant: context.tenantA) { connection in
        try connection.query(
          """
          INSERT INTO call_results (tenant_id, call_id, method)
          VALUES ($1::uuid, sha256(convert_to($1::text, 'UTF8') || '\\x00'::bytea || convert_to($2, 'UTF8')), $3)
          """, [context.tenantA, key, SurveyMethods.createSurvey.fullName])
      }
      let create = {
        try await context.clientA.unary(SurveyMethods.createSurvey, SurveyFixture.survey("enps"), options: once)
      }
      let running = await expectStatus(.aborted) { try await create() }
      #expect(running?.retryAfter != nil)
      try await context.pool.withTransaction(tenant: context.tenantA) { connection in
        try connection.query("UPDATE call_results SET claimed_at = now() - interval '16 minutes'")
      }
      let created = try await create()
      #expect(try await create() == created)
    }
  }

  /// A call whose writes committed but whose response was not stored (here a trigger refuses it; a
  /// server that stopped in between leaves the same claim) never runs again: repeats are ABORTED
  /// while it might still run, then FAILED_PRECONDITION. So for an operator's claim, whose write
  /// runs in the tenant's scope, and for a claim whose call wrote nothing, which is taken over.
  @Test func aCallWhoseResponseWasLostNeverRunsAgain() async throws {
    try await DataTestContext.with { context in
      let owner = try PostgresConnection(conninfo: context.ownerURL)
      defer { owner.close() }
      try owner.execute(
        """
        CREATE FUNCTION refuse_responses() RETURNS trigger LANGUAGE plpgsql
          AS $$ BEGIN RAISE EXCEPTION 'the response store is down'; END $$;
        CREATE TRIGGER refuse_responses BEFORE UPDATE ON call_results
          FOR EACH ROW WHEN (NEW.sealed_response IS NOT NULL) EXECUTE FUNCTION refuse_responses();
        CREATE TRIGGER refuse_responses BEFORE UPDATE ON operator_call_results
          FOR EACH ROW WHEN (NEW.sealed_response IS NOT NULL) EXECUTE FUNCTION refuse_responses();
        """)
      func age(_ scope: PostgresPool.Scope, _ table: String) async throws {
        try await context.pool.withTransaction(scope: scope) { connection in
          try connection.query(
            "UPDATE \(table) SET claimed_at = claimed_at - interval '16 minutes', wrote_at = wrote_at - interval '16 minutes'"
          )
        }
      }
      func expectLost(_ call: () async throws -> Void) async {
        let error = await expectStatus(.failedPrecondition) { try await call() }
        #expect(error?.fieldViolations.first?.field == "idempotency_key")
      }

      let once = self.key("lost")
      let create = {
        try await context.clientA.unary(SurveyMethods.createSurvey, SurveyFixture.survey("enps"), options: once)
      }
      _ = try await create()
      _ = await expectStatus(.aborted) { try await create() }
      try await age(.tenant(context.tenantA), "call_results")
      await expectLost { _ = try await create() }
      #expect(try await context.clientA.unary(SurveyMethods.listSurveys, .init()).surveys.count == 1)

      var keyRequest = Tally_V1_CreateApiKeyRequest()
      keyRequest.tenantID = context.tenantB
      keyRequest.name = "lost"
      keyRequest.scopes = ["read"]
      let keyOnce = self.key("key")
      let createKey = {
        try await context.operatorClient.unary(AdminMethods.createApiKey, keyRequest, options: keyOnce)
      }
      _ = try await createKey()
      try await age(.operator, "operator_call_results")
      await expectLost { _ = try await createKey() }
      let keys = try await context.pool.withTransaction(tenant: context.tenantB) { connection in
        try connection.query("SELECT count(*)::int8 AS n FROM api_keys WHERE name = 'lost'").rows[0]
          .require(Int64.self, "n")
      }
      #expect(keys == 1)

      // A claim whose call wrote nothing (its server stopped before) is taken over.
      try await context.pool.withTransaction(tenant: context.tenantA) { connection in
        try connection.query("UPDATE call_results SET wrote_at = NULL")
      }
      let survey = try await create()
      #expect(try await context.clientA.unary(SurveyMethods.listSurveys, .init()).surveys.count == 2)
      #expect(!survey.id.isEmpty)
    }
  }

  /// A repeat that finds the claim locked by one of the first call's transactions (its mark) is
  /// told ABORTED after a moment, rather than hold a connection every tenant shares until that
  /// transaction ends.
  @Test func aRepeatDoesNotWaitForTheFirstCallsTransaction() async throws {
    try await DataTestContext.with { context in
      let locked = try await self.lockedAccount(context)  // the first call's transaction waits for it
      let once = self.key("locked")
      let renamed = Fixture.upsert(Fixture.account("acme", name: "Acme Renamed"))
      let first = Task { try await context.clientA.unary(AccountMethods.upsertAccount, renamed, options: once) }
      // Its claim made and marked, the first call's transaction waits for the account (a sleep
      // here let the repeat come first under load: it claimed the key, and the first was refused).
      #expect(try await waitUntilALockIsAwaited(in: context.appURL), "the first call never waited for the account")
      // A repeat that waited would wait for the lock, held until it returns: its deadline says so
      // (a one-second bound on the answer failed once under load, where nothing waited).
      var again = once
      again.timeout = .seconds(15)
      let repeated = await expectStatus(.aborted) {
        try await context.clientA.unary(AccountMethods.upsertAccount, renamed, options: again)
      }
      #expect(repeated?.retryAfter != nil)
      try await locked.release()
      #expect(try await first.value.name == "Acme Renamed")
      #expect(
        try await context.clientA.unary(AccountMethods.upsertAccount, renamed, options: once).name == "Acme Renamed")
    }
  }

  /// A result past its 24 hours is not replayed, though the hourly maintenance has not removed it
  /// yet: the key's next call runs, in place of the old claim.
  @Test func aResultPastItsDayIsNotReplayed() async throws {
    try await DataTestContext.with { context in
      let once = self.key("day")
      let create = {
        try await context.clientA.unary(SurveyMethods.createSurvey, SurveyFixture.survey("enps"), options: once)
      }
      let first = try await create()
      try await context.pool.withTransaction(tenant: context.tenantA) { connection in
        try connection.query("UPDATE call_results SET claimed_at = now() - interval '25 hours'")
      }
      let second = try await create()
      #expect(second.id != first.id)
      #expect(try await create() == second)
      #expect(try await context.clientA.unary(SurveyMethods.listSurveys, .init()).surveys.count == 2)
    }
  }

  /// The hourly maintenance removes every tenant's and the operator's results past 24 hours, and
  /// only those: a tenant that stopped sending keys would otherwise keep its last day's for ever.
  @Test func expiredResultsArePurgedForEveryTenantAndTheOperator() async throws {
    try await DataTestContext.with { context in
      let claim =
        "INSERT INTO call_results (tenant_id, call_id, method, claimed_at) VALUES ($1::uuid, sha256($2::bytea), 'm', now() - $3::interval)"
      for (tenant, age) in [
        (context.tenantA, "25 hours"), (context.tenantB, "25 hours"), (context.tenantA, "23 hours"),
      ] {
        try await context.pool.withTransaction(tenant: tenant) { connection in
          _ = try connection.query(claim, [tenant, "\(tenant)\(age)", age])
        }
      }
      try await context.pool.withTransaction(scope: .operator) { connection in
        _ = try connection.query(
          "INSERT INTO operator_call_results (call_id, method, claimed_at) VALUES (sha256('op'::bytea), 'm', now() - interval '2 days')"
        )
      }
      let purged = try await context.pool.withTransaction(tenant: nil) { connection in
        try connection.query("SELECT purge_expired_call_results() AS count").rows[0].require(Int64.self, "count")
      }
      #expect(purged == 3)
      #expect(try await self.claims(context) == 1, "the result of 23 hours stays")
    }
  }

  /// A call cut off by its deadline wrote nothing, and its key is free at once: the client's
  /// retry runs, rather than being told for 15 minutes that the first call still runs.
  @Test func aCallPastItsDeadlineFreesItsKeyForTheRetry() async throws {
    try await DataTestContext.with { context in
      let locked = try await self.lockedAccount(context)  // the call below waits for it past its deadline
      var options = self.key("deadline")
      options.timeout = .milliseconds(300)
      let renamed = Fixture.upsert(Fixture.account("acme", name: "Acme Renamed"))
      _ = await expectStatus(.deadlineExceeded) {
        try await context.clientA.unary(AccountMethods.upsertAccount, renamed, options: options)
      }
      // The call frees its key as it ends, just after its deadline's answer: waited for with the
      // account still locked (released first, under load, the server's cancel came after the
      // release, the call wrote, and its key stayed taken, rightly; right after the answer, the
      // retry was told the call still ran).
      let held = try await self.claims(context, onceNot: 1, within: .seconds(10))
      #expect(held == 0, "the call cut off by its deadline kept its key")
      try await locked.release()
      options.timeout = nil
      let retried = try await context.clientA.unary(AccountMethods.upsertAccount, renamed, options: options)
      #expect(retried.name == "Acme Renamed")
      #expect(try await self.claims(context) == 1, "the retry's claim, with its answer")
    }
  }

  /// A client stream is replayed by its messages: the repeat reads them, compares, and answers
  /// as the first call did (every event accepted), not as a second run would (all duplicates).
  @Test func aRepeatedEventStreamGetsTheFirstAnswer() async throws {
    try await DataTestContext.with { context in
      let once = self.key("events")
      func record(_ keys: [String]) async throws -> Tally_V1_RecordEventsResponse {
        try await context.clientA.clientStreaming(EventMethods.recordEvents, options: once) { writer in
          for key in keys {
            var request = Tally_V1_RecordEventsRequest()
            request.events = [Fixture.event(key)]
            try await writer.send(request)
          }
        }
      }
      let first = try await record(["e1", "e2"])
      #expect(first.accepted == 2 && first.duplicates == 0 && first.batches == 2)
      #expect(try await record(["e1", "e2"]) == first)
      let other = await expectStatus(.invalidArgument) { try await record(["e1", "e3"]) }
      #expect(other?.fieldViolations.first?.field == "idempotency_key")
      let stored = try await context.clientA.serverStreaming(EventMethods.listEvents, .init()) { stream in
        try await stream.reduce(into: [String]()) { $0 += $1.events.map(\.key) }
      }
      #expect(stored.sorted() == ["e1", "e2"])
    }
  }

  /// A first call that stalls 15 minutes without a write has its key taken over by a repeat; when
  /// it comes back, its writes fail (ABORTED) instead of being made beside the repeat's, and the
  /// repeat's stored answer stands.
  @Test func aStalledCallWhoseKeyWasTakenOverWritesNothing() async throws {
    try await DataTestContext.with { context in
      let once = self.key("stalled")
      func record(_ key: String, after wait: AsyncStream<Void>? = nil) async throws -> Tally_V1_RecordEventsResponse {
        try await context.clientA.clientStreaming(EventMethods.recordEvents, options: once) { writer in
          if let wait { for await _ in wait { break } }
          var request = Tally_V1_RecordEventsRequest()
          request.events = [Fixture.event(key)]
          try await writer.send(request)
        }
      }
      let (repeated, repeatDone) = AsyncStream<Void>.makeStream()
      let first = Task { try await record("first", after: repeated) }
      // The first call's claim, once made, aged as if it had stalled for 16 minutes.
      let claims = try await self.claims(context, onceNot: 0, within: .seconds(30))
      try #require(claims == 1, "the first call's claim never came")
      try await context.pool.withTransaction(tenant: context.tenantA) { connection in
        try connection.query("UPDATE call_results SET claimed_at = now() - interval '16 minutes'")
      }
      let answer = try await record("repeat")
      #expect(answer.accepted == 1)
      repeatDone.yield()
      let stalled = await expectStatus(.aborted) { _ = try await first.value }
      #expect(stalled?.message.contains("took its idempotency_key over") == true, "\(String(describing: stalled))")
      let stored = try await context.clientA.serverStreaming(EventMethods.listEvents, .init()) { stream in
        try await stream.reduce(into: [String]()) { $0 += $1.events.map(\.key) }
      }
      #expect(stored == ["repeat"])
      #expect(try await record("repeat") == answer, "the repeat's answer is what the key replays")
    }
  }

  /// Invitation tokens are shown once: a repeat shows the same ones again, and the stored response
  /// holds neither them nor the key in a readable form.
  @Test func aRepeatedInvitationShowsTheSameTokensWhichAreStoredSealed() async throws {
    try await DataTestContext.with { context in
      let a = context.clientA
      let survey = try await a.unary(SurveyMethods.createSurvey, SurveyFixture.survey("enps"))
      let round = try await SurveyFixture.openRound(a, survey.id)
      var request = Tally_V1_IssueInvitationsRequest()
      request.roundID = round.id
      request.count = 3
      let once = self.key("invite")
      let first = try await a.unary(SurveyMethods.issueInvitations, request, options: once)
      #expect(try await a.unary(SurveyMethods.issueInvitations, request, options: once) == first)
      var rounds = Tally_V1_ListRoundsRequest()
      rounds.surveyID = survey.id
      #expect(try await a.unary(SurveyMethods.listRounds, rounds).rounds[0].invitations == 3)

      let rows = try await context.pool.withTransaction(tenant: context.tenantA) { connection in
        try connection.query(
          "SELECT encode(call_id, 'hex') AS id, encode(sealed_response, 'escape') AS sealed FROM call_results"
        ).rows
      }
      #expect(rows.count == 1, "only the call with a key is kept")
      let sealed = try rows.compactMap { try $0.decode(String.self, "sealed") }.joined()
      for token in first.invitations.map(\.token) { #expect(!sealed.contains(token)) }
      #expect(!sealed.contains(once.idempotencyKey!))
    }
  }

  /// An operator's writes that name no tenant (the agency's provisioning: a tenant, then its first
  /// key) replay in a scope of their own, which no tenant's transaction can read.
  @Test func theOperatorsOwnWritesReplayInAScopeOfTheirOwn() async throws {
    try await DataTestContext.with { context in
      let op = context.operatorClient
      let name = "Provisioned \(UUID().uuidString)"
      var tenantRequest = Tally_V1_CreateTenantRequest()
      tenantRequest.name = name
      tenantRequest.currency = "EUR"
      let once = self.key("tenant")
      let tenant = try await op.unary(AdminMethods.createTenant, tenantRequest, options: once)
      #expect(try await op.unary(AdminMethods.createTenant, tenantRequest, options: once) == tenant)
      tenantRequest.currency = "USD"
      let other = await expectStatus(.invalidArgument) {
        try await op.unary(AdminMethods.createTenant, tenantRequest, options: once)
      }
      #expect(other?.fieldViolations.first?.field == "idempotency_key")

      var keyRequest = Tally_V1_CreateApiKeyRequest()
      keyRequest.tenantID = tenant.tenantID
      keyRequest.name = "first admin"
      keyRequest.scopes = ["admin"]
      let keyOnce = self.key("key")
      let key = try await op.unary(AdminMethods.createApiKey, keyRequest, options: keyOnce)
      #expect(try await op.unary(AdminMethods.createApiKey, keyRequest, options: keyOnce) == key)

      let (tenants, keys) = try await context.pool.withTransaction(scope: .operator) { connection in
        (
          try connection.query("SELECT count(*)::int8 AS n FROM tenants WHERE name = $1", [name]).rows[0]
            .require(Int64.self, "n"),
          try connection.query("SELECT count(*)::int8 AS n FROM api_keys WHERE tenant_id = $1::uuid", [tenant.tenantID])
            .rows[0].require(Int64.self, "n")
        )
      }
      #expect(tenants == 1 && keys == 1)
      // A tenant's call under the same key is its own, and its transactions see no operator result.
      let survey = try await context.clientA.unary(
        SurveyMethods.createSurvey, SurveyFixture.survey("enps"), options: once)
      #expect(!survey.id.isEmpty)
      let visible = try await context.pool.withTransaction(tenant: context.tenantA) { connection in
        try connection.query("SELECT count(*)::int8 AS n FROM operator_call_results").rows[0].require(Int64.self, "n")
      }
      #expect(visible == 0)
    }
  }

  /// An operator's key calls are kept in the operator's own store whatever tenant its CALL names,
  /// so a tenant's admin key that repeats one (the same idempotency_key and request) runs it
  /// itself, instead of receiving the key the operator's call made.
  @Test func anOperatorsKeyCallsNeverReplayToATenantsAdmin() async throws {
    try await DataTestContext.with { context in
      let adminRequest = Fixture.apiKey("admin A", tenant: context.tenantA, scopes: ["admin"])
      let adminA = try context.server.client(
        apiKey: try await context.operatorClient.unary(AdminMethods.createApiKey, adminRequest).key)
      let forA = Fixture.apiKey("A's writer", tenant: context.tenantA, scopes: ["write"])
      var once = self.key("cross")
      once.tenantID = context.tenantA  // the operator's call names tenant A
      let created = try await context.operatorClient.unary(AdminMethods.createApiKey, forA, options: once)
      once.tenantID = nil
      let own = try await adminA.unary(AdminMethods.createApiKey, forA, options: once)
      #expect(own.apiKey.keyID != created.apiKey.keyID && own.key != created.key)
      #expect(try await adminA.unary(AdminMethods.createApiKey, forA, options: once) == own)
      once.tenantID = context.tenantA
      #expect(try await context.operatorClient.unary(AdminMethods.createApiKey, forA, options: once) == created)
      await adminA.close()
    }
  }

  /// The operator's store holds the calls of every tenant it acts on, so the tenant its CALL names
  /// is part of the request: the same CreateApiKey for tenant B under the key used for tenant A is
  /// another request, refused, where it replayed A's new key, secret and all.
  @Test func anOperatorsKeyCallForAnotherTenantIsAnotherRequest() async throws {
    try await DataTestContext.with { context in
      var request = Tally_V1_CreateApiKeyRequest()
      request.name = "ci"
      request.scopes = ["read"]  // no tenant_id in the body: the CALL's tenant is the key's
      var once = self.key("header")
      once.tenantID = context.tenantA
      let forA = try await context.operatorClient.unary(AdminMethods.createApiKey, request, options: once)
      #expect(forA.apiKey.tenantID == context.tenantA)
      #expect(try await context.operatorClient.unary(AdminMethods.createApiKey, request, options: once) == forA)
      once.tenantID = context.tenantB
      await expectViolation("idempotency_key") {
        try await context.operatorClient.unary(AdminMethods.createApiKey, request, options: once)
      }
    }
  }
}
