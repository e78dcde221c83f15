import Foundation
import SwiftProtobuf
import TallyClient
import TallyProto
import TallyWire
import Testing

@testable import TallyCore

/// Input a client sent that once reached the database unchecked (INTERNAL, or stored as sent), or
/// got an error naming the wrong field: each now gets INVALID_ARGUMENT naming its field, and
/// nothing is written.
@Suite struct BadInputTests {
  @Test func surveyChoicesAreCheckedAsTextEachByItsIndex() async throws {
    try await DataTestContext.with { context in
      func survey(_ choices: [String]) -> Tally_V1_Survey {
        var request = SurveyFixture.pulse()
        request.survey.questions = [
          SurveyFixture.question("mood", "nps", required: true),
          SurveyFixture.question("pick", "single_choice", required: true, choices: choices),
        ]
        return request.survey
      }
      // One character as a person reads it, 211 code points: an "a" and 7 runs of 29 combining
      // accents joined by U+200D (ZWJ), each run within Unicode's stream-safe 30 (StreamSafeText).
      let stacked = "a" + String(repeating: String(repeating: "\u{301}", count: 29) + "\u{200D}", count: 7)
      let bad: [([String], String)] = [
        (["a\u{0}", "b"], "survey.questions[1].choices[0]"),
        (["a", "\u{1b}[2J"], "survey.questions[1].choices[1]"),
        (["a", stacked], "survey.questions[1].choices[1]"),
        (["a", ""], "survey.questions[1].choices[1]"),
        (["x", "y", "x"], "survey.questions[1].choices[2]"),
      ]
      for (choices, field) in bad {
        var create = Tally_V1_CreateSurveyRequest()
        create.survey = survey(choices)
        await expectViolation(field) { try await context.clientA.unary(SurveyMethods.createSurvey, create) }
      }
      var create = Tally_V1_CreateSurveyRequest()
      create.survey = survey(["a", "b"])
      let stored = try await context.clientA.unary(SurveyMethods.createSurvey, create)
      for (choices, field) in bad {
        var update = Tally_V1_UpdateSurveyRequest()
        update.survey = survey(choices)
        update.survey.id = stored.id
        await expectViolation(field) { try await context.clientA.unary(SurveyMethods.updateSurvey, update) }
      }
      var list = Tally_V1_ListSurveysRequest()
      list.includeArchived = true
      let surveys = try await context.readerA.unary(SurveyMethods.listSurveys, list).surveys
      #expect(surveys.map(\.questions) == [stored.questions])
    }
  }

  /// New ids that could pass for another (a zero-width space, a byte-order mark, a trailing space)
  /// and blank names are refused, each naming its field and the character: "acme" + U+200B stood
  /// beside "acme", and contacts naming "acme" were refused for an account the list showed.
  @Test func idsThatLookLikeOthersAndBlankNamesAreRefused() async throws {
    try await DataTestContext.with { context in
      let bad: [(id: String, name: String, field: String, says: String)] = [
        ("acme\u{200B}", "Acme", "account.id", "U+200B"), ("\u{FEFF}acme", "Acme", "account.id", "U+FEFF"),
        ("acme ", "Acme", "account.id", "begin or end with a space"),
        ("ac\u{2028}me", "Acme", "account.id", "U+2028"), ("acme", "   ", "account.name", "blank"),
      ]
      for row in bad {
        let error = await expectStatus(.invalidArgument) {
          try await context.clientA.unary(
            AccountMethods.upsertAccount, Fixture.upsert(Fixture.account(row.id, name: row.name)))
        }
        #expect(error?.fieldViolations.first?.field == row.field, "\(row.id.unicodeScalars.map(\.value))")
        #expect(error?.fieldViolations.first?.description.contains(row.says) == true, "\(String(describing: error))")
      }
      var contact = Fixture.contact("c\u{00AD}1", account: "acme")
      contact.name = "Ana"
      await expectViolation("contact.id") {
        try await context.clientA.unary(AccountMethods.upsertContact, Fixture.upsert(contact))
      }
      var list = Tally_V1_ListAccountsRequest()
      list.pageSize = 10
      #expect(try await context.readerA.unary(AccountMethods.listAccounts, list).accounts.isEmpty)
      // Ids of other scripts and inner spaces are ids like any other.
      for id in ["société générale", "株式会社", "acme-eu"] {
        _ = try await context.clientA.unary(AccountMethods.upsertAccount, Fixture.upsert(Fixture.account(id)))
      }
    }
  }

  @Test func aCurrencyIsExactlyThreeCapitalLetters() async throws {
    try await DataTestContext.with { context in
      for currency in ["EUR\n", "EUR\r\n", "EUR\u{2028}", "ÉUR", "EU", "EURO", "eur"] {
        var tenant = Tally_V1_CreateTenantRequest()
        (tenant.name, tenant.currency) = ("Bad currency", currency)
        await expectViolation("currency") { try await context.operatorClient.unary(AdminMethods.createTenant, tenant) }
      }
      var list = Tally_V1_ListTenantsRequest()
      list.pageSize = 1_000
      let tenants = try await context.operatorClient.unary(AdminMethods.listTenants, list).tenants
      #expect(!tenants.contains { $0.name == "Bad currency" })
    }
  }

  @Test func domainsAddressesAndKeyIDsEndWhereTheyEnd() async throws {
    try await DataTestContext.with { context in
      let badDomains = [
        "example.com\n", "example.com\r\n", "example.com\u{2028}", "exa_mple.com", "-acme.com", "acme..com",
        "example", "ex\u{212A}.com", "bücher.de",
      ]
      for domain in badDomains {
        var account = Fixture.account("acme")
        account.domain = domain
        await expectViolation("account.domain") {
          try await context.clientA.unary(AccountMethods.upsertAccount, Fixture.upsert(account))
        }
      }
      var imported = Tally_V1_ImportAccountsRequest()
      imported.accounts = badDomains.enumerated().map { index, domain in
        var account = Fixture.account("import-\(index)")
        account.domain = domain
        return account
      }
      let message = imported
      let response = try await context.clientA.clientStreaming(AccountMethods.importAccounts) { writer in
        try await writer.send(message)
      }
      #expect(response.accountsUpserted == 0 && response.rejections.map(\.field) == badDomains.map { _ in "domain" })
      #expect(
        try await context.readerA.unary(AccountMethods.listAccounts, Tally_V1_ListAccountsRequest()).accounts.isEmpty)

      var account = Fixture.account("acme")
      account.domain = "Sub-1.Example.COM"
      #expect(
        try await context.clientA.unary(AccountMethods.upsertAccount, Fixture.upsert(account)).domain
          == "sub-1.example.com")
      for email in ["ana@example.com\u{2028}", "ana@example.com\u{85}", "ana@@example.com", "ana@example."] {
        var contact = Fixture.contact("c1", account: "acme")
        contact.email = email
        await expectViolation("contact.email") {
          try await context.clientA.unary(AccountMethods.upsertContact, Fixture.upsert(contact))
        }
      }
      var revoke = Tally_V1_RevokeApiKeyRequest()
      revoke.keyID = "0123456789abcdef\n"
      await expectViolation("key_id") { try await context.operatorClient.unary(AdminMethods.revokeApiKey, revoke) }
    }
  }

  @Test func aCostWrittenBackAsReadIsARepeatOfItsKey() async throws {
    try await DataTestContext.with { context in
      var request = Tally_V1_RecordCostRequest()
      request.cost.key = "inv-7"
      (request.cost.date, request.cost.amount, request.cost.category) = ("2026-01-15", 500_00, "media")
      let stored = try await context.clientA.unary(CampaignMethods.recordCost, request)
      // The cost as ListCosts shows it, its cost_id and created_at included, sent again with its key.
      var written = Tally_V1_RecordCostRequest()
      written.cost = try await context.readerA.unary(CampaignMethods.listCosts, Tally_V1_ListCostsRequest()).costs[0]
      #expect(written.cost.hasCreatedAt && !written.cost.costID.isEmpty)
      #expect(try await context.clientA.unary(CampaignMethods.recordCost, written) == stored)
      written.cost.costID = UUID().uuidString.lowercased()
      written.cost.createdAt = Google_Protobuf_Timestamp(seconds: 1_700_000_000)
      #expect(try await context.clientA.unary(CampaignMethods.recordCost, written) == stored)
      written.cost.note = "changed"
      _ = await expectStatus(.alreadyExists) { try await context.clientA.unary(CampaignMethods.recordCost, written) }
      let costs = try await context.readerA.unary(CampaignMethods.listCosts, Tally_V1_ListCostsRequest()).costs
      #expect(costs == [stored])
    }
  }

  /// More answers than a survey can have questions are refused before they wait for a batch (a
  /// 4 MiB request of empty answers once waited there as two million of them).
  @Test func aResponseWithMoreAnswersThanAnySurveyHasQuestionsIsRefused() async throws {
    try await DataTestContext.with { context in
      var request = Tally_V1_SubmitResponseRequest()
      request.token = SurveyService.tokenPrefix + "unknown"
      request.answers = Array(repeating: Tally_V1_Answer(), count: SurveyDefinition.maxQuestions + 1)
      let error = await expectStatus(.invalidArgument) {
        try await context.clientA.unary(SurveyMethods.submitResponse, request)
      }
      #expect(error?.fieldViolations.map(\.field) == ["answers"])
    }
  }

  @Test func anAccountAddedAndRemovedInOneCallIsRefused() async throws {
    try await DataTestContext.with { context in
      for id in ["a1", "a2"] {
        _ = try await context.clientA.unary(AccountMethods.upsertAccount, Fixture.upsert(Fixture.account(id)))
      }
      _ = try await context.clientA.unary(CampaignMethods.upsertCampaign, Fixture.upsert(Fixture.campaign("c1")))
      var request = Tally_V1_SetCampaignTargetsRequest()
      (request.campaignID, request.add, request.remove) = ("c1", ["a1", "a2"], ["a2"])
      let error = await expectStatus(.invalidArgument) {
        try await context.clientA.unary(CampaignMethods.setCampaignTargets, request)
      }
      #expect(error?.fieldViolations.map(\.field) == ["remove[0]"])
      #expect(error?.fieldViolations.first?.description.contains("add[1]") == true, "\(String(describing: error))")
      var get = Tally_V1_GetCampaignRequest()
      get.id = "c1"
      #expect(try await context.readerA.unary(CampaignMethods.getCampaign, get).targetAccountCount == 0)
    }
  }

  @Test func aScopeListedTwiceIsRefused() async throws {
    try await DataTestContext.with { context in
      var key = Tally_V1_CreateApiKeyRequest()
      (key.tenantID, key.name, key.scopes) = (context.tenantA, "twice", ["write", "read", "write"])
      let error = await expectStatus(.invalidArgument) {
        try await context.operatorClient.unary(AdminMethods.createApiKey, key)
      }
      #expect(error?.fieldViolations.map(\.field) == ["scopes[2]"])
      #expect(error?.fieldViolations.first?.description.contains("scopes[0]") == true)
      var list = Tally_V1_ListApiKeysRequest()
      list.tenantID = context.tenantA
      let keys = try await context.operatorClient.unary(AdminMethods.listApiKeys, list).apiKeys
      #expect(!keys.contains { $0.name == "twice" })
    }
  }

  /// An import refused at its second message says that its first was stored.
  @Test func aFailedImportSaysItsFirstMessageWasStored() async throws {
    try await DataTestContext.with { context in
      var good = Tally_V1_ImportAccountsRequest()
      good.accounts = [Fixture.account("a1")]
      var twice = Tally_V1_ImportAccountsRequest()
      twice.accounts = [Fixture.account("a2"), Fixture.account("a2")]
      let messages = [good, twice]
      let error = await expectStatus(.invalidArgument) {
        try await context.clientA.clientStreaming(AccountMethods.importAccounts) { writer in
          for message in messages { try await writer.send(message) }
        }
      }
      #expect(error?.message.contains("this stream's first message (0) was stored before it") == true)
      let stored = try await context.readerA.unary(AccountMethods.listAccounts, Tally_V1_ListAccountsRequest())
      #expect(stored.accounts.map(\.id) == ["a1"])
    }
  }

  @Test func anImportMessageNamingAnIDTwiceIsRefusedWhole() async throws {
    try await DataTestContext.with { context in
      func importing(_ request: Tally_V1_ImportAccountsRequest) async throws -> Tally_V1_ImportAccountsResponse {
        try await context.clientA.clientStreaming(AccountMethods.importAccounts) { writer in
          try await writer.send(request)
        }
      }
      var accounts = Tally_V1_ImportAccountsRequest()
      accounts.accounts = [Fixture.account("a1"), Fixture.account("a2"), Fixture.account("a1", name: "Later")]
      var error = await expectStatus(.invalidArgument) { try await importing(accounts) }
      #expect(error?.fieldViolations.map(\.field) == ["accounts[2].id"])
      #expect(error?.fieldViolations.first?.description.contains("accounts[0].id") == true)
      // "é" and "e" + U+0301 are two ids to PostgreSQL, so both are stored.
      accounts.accounts = [Fixture.account("caf\u{e9}"), Fixture.account("cafe\u{301}")]
      #expect(try await importing(accounts).accountsUpserted == 2)

      var contacts = Tally_V1_ImportAccountsRequest()
      contacts.contacts = [Fixture.contact("k1", account: "a1"), Fixture.contact("k1", account: "a2")]
      error = await expectStatus(.invalidArgument) { try await importing(contacts) }
      #expect(error?.fieldViolations.map(\.field) == ["contacts[1].id"])
      let stored = try await context.readerA.unary(AccountMethods.listAccounts, Tally_V1_ListAccountsRequest())
      #expect(stored.accounts.count == 2)
      #expect(
        try await context.readerA.unary(AccountMethods.listContacts, Tally_V1_ListContactsRequest()).contacts.isEmpty)

      var tooMany = Tally_V1_ImportAccountsRequest()
      tooMany.contacts = (0...1_000).map { Fixture.contact("k\($0)", account: "a1") }
      error = await expectStatus(.invalidArgument) { try await importing(tooMany) }
      #expect(error?.fieldViolations.map(\.field) == ["contacts"])

      // A contact's account is matched by its bytes, as PostgreSQL matches it: with only "señor"
      // ("ñ" one code point) stored, "sen" + U+0303 + "or" names no account, and the first is stored.
      var accented = Tally_V1_ImportAccountsRequest()
      accented.accounts = [Fixture.account("se\u{f1}or")]
      accented.contacts = [
        Fixture.contact("k-one", account: "se\u{f1}or"), Fixture.contact("k-two", account: "sen\u{303}or"),
      ]
      let imported = try await importing(accented)
      #expect(imported.accountsUpserted == 1 && imported.contactsUpserted == 1)
      #expect(imported.rejections.map(\.id) == ["k-two"] && imported.rejections.first?.field == "account_id")
      var targets = Tally_V1_SetCampaignTargetsRequest()
      targets.campaignID = "c-accented"
      _ = try await context.clientA.unary(
        CampaignMethods.upsertCampaign, Fixture.upsert(Fixture.campaign("c-accented")))
      targets.add = ["se\u{f1}or", "sen\u{303}or"]
      let unknown = await expectStatus(.notFound) {
        try await context.clientA.unary(CampaignMethods.setCampaignTargets, targets)
      }
      #expect(unknown?.message.contains("sen\u{303}or") == true)

      // Paged one account at a time, past ids that start with a combining mark: the token after such
      // an id (whose "|" joins the mark as text) is still one this server issued.
      var marked = Tally_V1_ImportAccountsRequest()
      marked.accounts = [Fixture.account("\u{301}x"), Fixture.account("\u{301}y")]
      _ = try await importing(marked)
      var page = Tally_V1_ListAccountsRequest()
      page.pageSize = 1
      var listed: [String] = []
      repeat {
        let response = try await context.readerA.unary(AccountMethods.listAccounts, page)
        listed += response.accounts.map(\.id)
        page.pageToken = response.nextPageToken
      } while !page.pageToken.isEmpty && listed.count < 20
      #expect(listed.map { Array($0.utf8) }.suffix(2) == [Array("\u{301}x".utf8), Array("\u{301}y".utf8)])
      #expect(listed.count == 5)
    }
  }

  /// A list filter with a NUL names its field, rather than listing what the text before it names.
  @Test func listFiltersAreCheckedAsText() async throws {
    try await DataTestContext.with { context in
      var contacts = Tally_V1_ListContactsRequest()
      contacts.accountID = "acme\u{0}zzz"
      await expectViolation("account_id") { try await context.readerA.unary(AccountMethods.listContacts, contacts) }
      var opportunities = Tally_V1_ListOpportunitiesRequest()
      opportunities.accountID = "acme\u{0}zzz"
      await expectViolation("account_id") {
        try await context.readerA.unary(OpportunityMethods.listOpportunities, opportunities)
      }
      var costs = Tally_V1_ListCostsRequest()
      costs.campaignID = "spring\u{0}zzz"
      await expectViolation("campaign_id") { try await context.readerA.unary(CampaignMethods.listCosts, costs) }
    }
  }

  @Test func anEventTimesNanosAreNamedAsTheirFault() async throws {
    try await DataTestContext.with { context in
      var event = Fixture.event("negative-nanos")
      event.occurredAt = Google_Protobuf_Timestamp(seconds: 1_700_000_000, nanos: -1)
      let events = [event]
      let response = try await context.clientA.clientStreaming(EventMethods.recordEvents) { writer in
        var request = Tally_V1_RecordEventsRequest()
        request.events = events
        try await writer.send(request)
      }
      #expect(response.accepted == 0 && response.rejections.map(\.field) == ["occurred_at"])
      #expect(response.rejections.first?.reason == "nanos must be 0 to 999,999,999, got -1")
    }
  }

  @Test func everyBadFieldIsNamedAtOnce() async throws {
    try await DataTestContext.with { context in
      func fields<T>(_ body: () async throws -> T) async -> [String] {
        await expectStatus(.invalidArgument, body)?.fieldViolations.map(\.field) ?? []
      }
      let past = Google_Protobuf_Timestamp(seconds: 1_000_000_000)
      var update = Tally_V1_UpdateSurveyRequest()
      update.survey = SurveyFixture.pulse().survey
      (update.survey.id, update.survey.title) = ("not-a-uuid", "")
      #expect(
        await fields { try await context.clientA.unary(SurveyMethods.updateSurvey, update) } == [
          "survey.id", "survey.title",
        ])
      var open = Tally_V1_OpenRoundRequest()
      (open.surveyID, open.closesAt) = ("not-a-uuid", past)
      #expect(
        await fields { try await context.clientA.unary(SurveyMethods.openRound, open) } == [
          "survey_id", "closes_at",
        ])
      var issue = Tally_V1_IssueInvitationsRequest()
      (issue.roundID, issue.count, issue.expiresAt) = ("not-a-uuid", 0, past)
      #expect(
        await fields { try await context.clientA.unary(SurveyMethods.issueInvitations, issue) } == [
          "round_id", "count", "expires_at",
        ])
      var key = Tally_V1_CreateApiKeyRequest()
      (key.tenantID, key.name, key.scopes) = ("not-a-uuid", "", ["read", "root"])
      #expect(
        await fields { try await context.operatorClient.unary(AdminMethods.createApiKey, key) } == [
          "name", "tenant_id", "scopes",
        ])
    }
  }
}
