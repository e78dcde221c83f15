import Foundation
import SwiftProtobuf
import TallyClient
import TallyProto
import TallyStore
import TallyTestSupport
import TallyWire
import Testing

@testable import TallyCore

@Suite struct AccountServiceTests {
  @Test func accountsRoundTripReplaceAndKeepHistory() async throws {
    try await DataTestContext.with { context in
      var account = Fixture.account("0015g00000ABC", tier: 2)
      account.domain = "Acme.COM"
      account.industry = "Manufacturing"
      account.employeeCount = 1200
      account.annualRevenue = 50_000_000_00
      account.owner = "rita"
      account.inIcp = true
      account.customerSince = Fixture.time("2024-02-01T00:00:00Z")
      account.arr = 120_000_00
      account.attributes = ["region": "EMEA", "source": "salesforce"]
      let stored = try await context.clientA.unary(AccountMethods.upsertAccount, Fixture.upsert(account))
      #expect(stored.domain == "acme.com")
      #expect(stored.employeeCount == 1200 && stored.annualRevenue == 50_000_000_00 && stored.arr == 120_000_00)
      #expect(stored.customerSince == account.customerSince && !stored.hasChurnedAt)
      #expect(stored.attributes == ["region": "EMEA", "source": "salesforce"])

      var get = Tally_V1_GetAccountRequest()
      get.id = account.id
      #expect(try await context.readerA.unary(AccountMethods.getAccount, get) == stored)

      // Upsert replaces every field: what the request leaves out is cleared.
      var replacement = Fixture.account(account.id, tier: 1, name: "Acme Corp")
      replacement.churnedAt = Fixture.time("2026-06-30T00:00:00Z")
      let replaced = try await context.clientA.unary(AccountMethods.upsertAccount, Fixture.upsert(replacement))
      #expect(replaced.name == "Acme Corp" && replaced.tier == 1 && !replaced.hasArr && replaced.domain.isEmpty)
      #expect(replaced.createdAt == stored.createdAt)

      let accountID = account.id
      let history = try await context.pool.withTransaction(tenant: context.tenantA) { connection in
        try connection.query("SELECT tier FROM account_history WHERE account_id = $1 ORDER BY changed_at", [accountID])
          .rows.map { try $0.require(Int.self, "tier") }
      }
      #expect(history == [2, 1])
    }
  }

  @Test func listPagesStayCorrectWhileRowsAreInserted() async throws {
    try await DataTestContext.with { context in
      for index in 0..<25 {
        _ = try await context.clientA.unary(
          AccountMethods.upsertAccount,
          Fixture.upsert(Fixture.account(String(format: "m%02d", index), tier: UInt32(index % 4))))
      }
      var request = Tally_V1_ListAccountsRequest()
      request.pageSize = 10
      var seen: [String] = []
      var pages = 0
      repeat {
        let page = try await context.readerA.unary(AccountMethods.listAccounts, request)
        seen += page.accounts.map(\.id)
        request.pageToken = page.nextPageToken
        pages += 1
        // Rows inserted before and after the cursor while paging.
        _ = try await context.clientA.unary(AccountMethods.upsertAccount, Fixture.upsert(Fixture.account("a\(pages)")))
      } while !request.pageToken.isEmpty
      #expect(Array(seen.filter { $0.hasPrefix("m") }) == (0..<25).map { String(format: "m%02d", $0) })
      #expect(Set(seen).count == seen.count, "a row came twice")

      var targets = Tally_V1_ListAccountsRequest()
      targets.tier = 3
      let tierThree = try await context.readerA.unary(AccountMethods.listAccounts, targets)
      #expect(tierThree.accounts.allSatisfy { $0.tier == 3 } && tierThree.accounts.count == 6)
      targets.tier = 0
      targets.targetsOnly = true
      targets.pageSize = 1000
      let allTargets = try await context.readerA.unary(AccountMethods.listAccounts, targets)
      #expect(allTargets.accounts.allSatisfy { $0.tier > 0 })
    }
  }

  static let badAccounts: [(String, @Sendable (inout Tally_V1_Account) -> Void)] = [
    ("account.id", { $0.id = "" }),
    ("account.id", { $0.id = String(repeating: "x", count: 201) }),
    ("account.name", { $0.name = "" }),
    ("account.tier", { $0.tier = 7 }),
    ("account.arr", { $0.arr = -1 }),
    ("account.annual_revenue", { $0.annualRevenue = -100 }),
    ("account.domain", { $0.domain = "not a domain" }),
    (
      "account.churned_at",
      {
        $0.customerSince = Fixture.time("2025-01-01T00:00:00Z")
        $0.churnedAt = Fixture.time("2024-01-01T00:00:00Z")
      }
    ),
    ("account.attributes", { account in for i in 0..<101 { account.attributes["k\(i)"] = "v" } }),
    ("account.attributes[big]", { $0.attributes["big"] = String(repeating: "x", count: 2_001) }),
    ("account.owner", { $0.owner = "tab\tin name" }),
  ]

  @Test(arguments: 0..<badAccounts.count)
  func badAccountsNameTheFieldAndStoreNothing(_ index: Int) async throws {
    try await DataTestContext.with { context in
      let (field, spoil) = Self.badAccounts[index]
      var account = Fixture.account("bad")
      spoil(&account)
      await expectViolation(field) {
        try await context.clientA.unary(AccountMethods.upsertAccount, Fixture.upsert(account))
      }
      let list = try await context.readerA.unary(AccountMethods.listAccounts, Tally_V1_ListAccountsRequest())
      #expect(list.accounts.isEmpty)
    }
  }

  @Test func aTwentyMegabyteAttributesMapIsRefusedBeforeItIsSent() async throws {
    try await DataTestContext.with { context in
      var account = Fixture.account("huge")
      account.attributes = ["blob": String(repeating: "x", count: 20 << 20)]
      let error = await expectStatus(.resourceExhausted) {
        try await context.clientA.unary(AccountMethods.upsertAccount, Fixture.upsert(account))
      }
      #expect(error?.message.contains("max_frame_payload") == true)
      // Just under the frame limit, the server's own limit on values names the field.
      account.attributes = ["blob": String(repeating: "x", count: 3 << 20)]
      await expectViolation("account.attributes[blob]") {
        try await context.clientA.unary(AccountMethods.upsertAccount, Fixture.upsert(account))
      }
      let list = try await context.readerA.unary(AccountMethods.listAccounts, Tally_V1_ListAccountsRequest())
      #expect(list.accounts.isEmpty)
    }
  }

  @Test func contactsNeedTheirAccountAndGoWithIt() async throws {
    try await DataTestContext.with { context in
      _ = try await context.clientA.unary(AccountMethods.upsertAccount, Fixture.upsert(Fixture.account("acme")))
      var contact = Fixture.contact("c1", account: "acme", role: "")
      contact.title = "CFO"
      contact.attributes = ["linkedin": "in/c1"]
      let stored = try await context.clientA.unary(AccountMethods.upsertContact, Fixture.upsert(contact))
      #expect(stored.role == "other" && stored.title == "CFO" && stored.attributes == ["linkedin": "in/c1"])
      _ = try await context.clientA.unary(
        AccountMethods.upsertContact, Fixture.upsert(Fixture.contact("c2", account: "acme", role: "decision_maker")))

      _ = await expectStatus(.notFound) {
        try await context.clientA.unary(
          AccountMethods.upsertContact, Fixture.upsert(Fixture.contact("c3", account: "nope")))
      }
      await expectViolation("contact.role") {
        try await context.clientA.unary(
          AccountMethods.upsertContact, Fixture.upsert(Fixture.contact("c4", account: "acme", role: "boss")))
      }
      await expectViolation("contact.email") {
        var bad = Fixture.contact("c5", account: "acme")
        bad.email = "not-an-address"
        return try await context.clientA.unary(AccountMethods.upsertContact, Fixture.upsert(bad))
      }

      var list = Tally_V1_ListContactsRequest()
      list.accountID = "acme"
      #expect(try await context.readerA.unary(AccountMethods.listContacts, list).contacts.map(\.id) == ["c1", "c2"])

      var deleteContact = Tally_V1_DeleteContactRequest()
      deleteContact.id = "c1"
      _ = try await context.clientA.unary(AccountMethods.deleteContact, deleteContact)
      _ = await expectStatus(.notFound) { try await context.clientA.unary(AccountMethods.deleteContact, deleteContact) }

      var delete = Tally_V1_DeleteAccountRequest()
      delete.id = "acme"
      let deleted = try await context.clientA.unary(AccountMethods.deleteAccount, delete)
      #expect(deleted.contactsDeleted == 1)
      var get = Tally_V1_GetContactRequest()
      get.id = "c2"
      _ = await expectStatus(.notFound) { try await context.readerA.unary(AccountMethods.getContact, get) }
      _ = await expectStatus(.notFound) { try await context.clientA.unary(AccountMethods.deleteAccount, delete) }
    }
  }

  /// An import upserts its accounts in id order, whatever order the file had: an import that
  /// shares ids with another writer waits for it instead of deadlocking with it (one ABORTED).
  @Test func importsSharingAccountsUpsertThemInIdOrder() async throws {
    try await DataTestContext.with { context in
      // Another writer that holds "a", then writes "b", as a concurrent import in id order does.
      let write = """
        INSERT INTO accounts (tenant_id, account_id, name, tier, in_icp)
        VALUES (current_setting('tally.tenant_id')::uuid, $1, $1, 0, false)
        """
      let writer = try await HeldTransaction(context.pool, tenant: context.tenantA) { connection in
        try connection.query(write, ["a"])
      } beforeCommit: { connection in
        try connection.query(write, ["b"])
      }
      let batch = Task { () async throws -> Tally_V1_ImportAccountsResponse in
        try await context.clientA.clientStreaming(AccountMethods.importAccounts) { writer in
          var request = Tally_V1_ImportAccountsRequest()
          request.accounts = [Fixture.account("b"), Fixture.account("a")]
          try await writer.send(request)
        }
      }
      #expect(try await waitUntilALockIsAwaited(in: context.appURL), "the import never waited for the writer")
      try await writer.release()
      let response = try await batch.value
      #expect(response.accountsUpserted == 2 && response.rejected == 0, "\(response)")
    }
  }

  /// DeleteAccount of `id` as a task, racing the transaction a test holds open, once it waits for it.
  private static func deleteAccountWaiting(
    _ id: String, _ context: DataTestContext
  ) async throws -> Task<Tally_V1_DeleteAccountResponse, any Error> {
    let client = context.clientA
    let delete = Task {
      var request = Tally_V1_DeleteAccountRequest()
      request.id = id
      return try await client.unary(AccountMethods.deleteAccount, request)
    }
    #expect(try await waitUntilALockIsAwaited(in: context.appURL), "the delete never waited for the writer")
    return delete
  }

  /// A contact moved onto an account while it is deleted is deleted with it and counted: the counts
  /// taken before the cascading delete said 1 of the 2 contacts it removed.
  @Test func aDeleteCountsAContactMovedOntoItsAccountMeanwhile() async throws {
    try await DataTestContext.with { context in
      for account in ["acme", "other"] {
        _ = try await context.clientA.unary(AccountMethods.upsertAccount, Fixture.upsert(Fixture.account(account)))
      }
      for (contact, account) in [("c1", "acme"), ("c2", "other")] {
        _ = try await context.clientA.unary(
          AccountMethods.upsertContact, Fixture.upsert(Fixture.contact(contact, account: account)))
      }
      // A writer that moves c2 onto acme and commits while the delete waits for it.
      let writer = try await HeldTransaction(context.pool, tenant: context.tenantA) { connection in
        try connection.query("UPDATE contacts SET account_id = 'acme' WHERE contact_id = 'c2'")
      }
      let delete = try await Self.deleteAccountWaiting("acme", context)
      try await writer.release()
      let deleted = try await delete.value
      #expect(deleted.contactsDeleted == 2, "\(deleted)")
      var list = Tally_V1_ListContactsRequest()
      list.pageSize = 10
      #expect(try await context.readerA.unary(AccountMethods.listContacts, list).contacts.isEmpty)
    }
  }

  /// A write that found its account keeps it until it commits: a delete racing it waits, where it
  /// made the write's foreign key fail (and an import's whole message with it).
  @Test func anAccountFoundForAWriteIsKeptUntilTheWriteCommits() async throws {
    try await DataTestContext.with { context in
      _ = try await context.clientA.unary(AccountMethods.upsertAccount, Fixture.upsert(Fixture.account("acme")))
      // The writer finds acme, then writes a contact of it once the delete waits for it.
      let writer = try await HeldTransaction(context.pool, tenant: context.tenantA) { connection in
        let missing = try missingIDs(["acme"], table: "accounts", column: "account_id", connection)
        #expect(missing.isEmpty)
      } beforeCommit: { connection in
        try connection.query(
          """
          INSERT INTO contacts (tenant_id, contact_id, account_id)
          VALUES (current_setting('tally.tenant_id')::uuid, 'late', 'acme')
          """)
      }
      let delete = try await Self.deleteAccountWaiting("acme", context)
      try await writer.release()
      #expect(try await delete.value.contactsDeleted == 1)
    }
  }

  /// A delete locks the account's contacts in id order, the order ImportAccounts writes them in:
  /// an import that moved contact a away and then writes b never waits for a delete that holds b
  /// and waits for a (deleted in the index's order, b, stored first, came first).
  @Test func aDeleteAndAnImportMovingItsContactsNeverWaitInACircle() async throws {
    try await DataTestContext.with { context in
      for account in ["acme", "other"] {
        _ = try await context.clientA.unary(AccountMethods.upsertAccount, Fixture.upsert(Fixture.account(account)))
      }
      for contact in ["b", "a"] {
        _ = try await context.clientA.unary(
          AccountMethods.upsertContact, Fixture.upsert(Fixture.contact(contact, account: "acme")))
      }
      // The import's transaction, held open across the wait.
      let connection = try PostgresConnection(conninfo: context.appURL)
      try connection.execute("BEGIN")
      try connection.query("SELECT set_config('tally.tenant_id', $1, true)", [context.tenantA])
      try connection.query("UPDATE contacts SET account_id = 'other' WHERE contact_id = 'a'")
      let delete = try await Self.deleteAccountWaiting("acme", context)  // for contact a
      #expect(throws: Never.self, "the delete holds contact b") {
        try connection.query("SELECT 1 FROM contacts WHERE contact_id = 'b' FOR UPDATE NOWAIT")
      }
      try connection.query("UPDATE contacts SET account_id = 'other' WHERE contact_id = 'b'")
      try connection.execute("COMMIT")
      #expect(try await delete.value.contactsDeleted == 0)
    }
  }

  @Test func importStoresTheValidRowsAndListsTheRest() async throws {
    try await DataTestContext.with { context in
      var first = Tally_V1_ImportAccountsRequest()
      first.accounts = [Fixture.account("i1"), Fixture.account("i2", tier: 9), Fixture.account("i3")]
      first.contacts = [Fixture.contact("k1", account: "i1"), Fixture.contact("k2", account: "i2")]
      var second = Tally_V1_ImportAccountsRequest()
      second.contacts = [Fixture.contact("k3", account: "i3"), Fixture.contact("", account: "i3")]
      // A repeat of the first message changes nothing but counts again: imports are upserts.
      let (firstMessage, secondMessage) = (first, second)
      let response = try await context.clientA.clientStreaming(AccountMethods.importAccounts) { writer in
        try await writer.send(firstMessage)
        try await writer.send(secondMessage)
        try await writer.send(firstMessage)
      }
      #expect(response.accountsUpserted == 4)
      #expect(response.contactsUpserted == 3)
      #expect(response.rejected == 5)
      let reasons = response.rejections.map { "\($0.batch)/\($0.list)/\($0.index)/\($0.field)" }
      #expect(reasons.contains("0/accounts/1/tier"))
      #expect(reasons.contains("0/contacts/1/account_id"))
      #expect(reasons.contains("1/contacts/1/id"))
      let list = try await context.readerA.unary(AccountMethods.listAccounts, Tally_V1_ListAccountsRequest())
      #expect(list.accounts.map(\.id) == ["i1", "i3"])
      let contacts = try await context.readerA.unary(AccountMethods.listContacts, Tally_V1_ListContactsRequest())
      #expect(contacts.contacts.map(\.id) == ["k1", "k3"])
    }
  }
}
