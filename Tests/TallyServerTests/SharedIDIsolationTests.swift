import Foundation
import SwiftProtobuf
import TallyClient
import TallyProto
import TallyWire
import Testing

/// Ids are per tenant: when tenants A and B both hold a row under one id, A's imports and deletes
/// of that id touch A's row alone, and B reads its own exactly as before.
@Suite struct SharedIDIsolationTests {
  /// Account `shared` with contacts and opportunities `shared` and `<prefix>-2`…, campaign `shared`
  /// targeting `shared` and `<prefix>-target`, and `costs` costs of that campaign.
  private func seed(_ client: TallyClient, prefix: String, extras: Int, costs: Int) async throws {
    _ = try await client.unary(AccountMethods.upsertAccount, Fixture.upsert(Fixture.account("shared", tier: 2)))
    _ = try await client.unary(AccountMethods.upsertAccount, Fixture.upsert(Fixture.account("\(prefix)-target")))
    let ids = ["shared"] + (0..<extras).map { "\(prefix)-\($0 + 2)" }
    for id in ids {
      _ = try await client.unary(AccountMethods.upsertContact, Fixture.upsert(Fixture.contact(id, account: "shared")))
      var opportunity = Tally_V1_Opportunity()
      opportunity.id = id
      opportunity.accountID = "shared"
      opportunity.name = "\(prefix) deal \(id)"
      opportunity.status = "open"
      opportunity.type = "new_business"
      opportunity.createdAt = Fixture.time("2026-01-03T00:00:00Z")
      _ = try await client.unary(OpportunityMethods.upsertOpportunity, Fixture.upsert(opportunity))
    }
    _ = try await client.unary(CampaignMethods.upsertCampaign, Fixture.upsert(Fixture.campaign("shared")))
    var targets = Tally_V1_SetCampaignTargetsRequest()
    targets.campaignID = "shared"
    targets.add = ["shared", "\(prefix)-target"]
    _ = try await client.unary(CampaignMethods.setCampaignTargets, targets)
    for day in 1...costs {
      var cost = Tally_V1_RecordCostRequest()
      cost.cost.campaignID = "shared"
      cost.cost.date = "2026-01-0\(day)"
      cost.cost.amount = 10
      cost.cost.category = "media"
      _ = try await client.unary(CampaignMethods.recordCost, cost)
    }
  }

  @Test func tenantAsImportWithTenantBsIdsWritesRowsOfItsOwn() async throws {
    try await DataTestContext.with { context in
      let (a, b) = (context.clientA, context.clientB)
      _ = try await b.unary(AccountMethods.upsertAccount, Fixture.upsert(Fixture.account("shared", name: "B Corp")))
      _ = try await b.unary(AccountMethods.upsertContact, Fixture.upsert(Fixture.contact("shared", account: "shared")))
      var getAccount = Tally_V1_GetAccountRequest()
      getAccount.id = "shared"
      var getContact = Tally_V1_GetContactRequest()
      getContact.id = "shared"
      let bAccount = try await b.unary(AccountMethods.getAccount, getAccount)
      let bContact = try await b.unary(AccountMethods.getContact, getContact)

      var importing = Tally_V1_ImportAccountsRequest()
      importing.accounts = [Fixture.account("shared", tier: 3, name: "A Corp")]
      importing.contacts = [Fixture.contact("shared", account: "shared", role: "blocker")]
      let request = importing
      let imported = try await a.clientStreaming(AccountMethods.importAccounts) { try await $0.send(request) }
      #expect(imported.accountsUpserted == 1 && imported.contactsUpserted == 1 && imported.rejected == 0)

      // A reads its own rows under those ids, one of each.
      let aAccount = try await a.unary(AccountMethods.getAccount, getAccount)
      #expect(aAccount.name == "A Corp" && aAccount.tier == 3)
      #expect(try await a.unary(AccountMethods.getContact, getContact).role == "blocker")
      #expect(try await a.unary(AccountMethods.listAccounts, .init()).accounts.map(\.name) == ["A Corp"])
      #expect(try await a.unary(AccountMethods.listContacts, .init()).contacts.map(\.role) == ["blocker"])

      // B's rows are exactly as before, down to their updated_at.
      #expect(try await b.unary(AccountMethods.getAccount, getAccount) == bAccount)
      #expect(try await b.unary(AccountMethods.getContact, getContact) == bContact)
      #expect(try await b.unary(AccountMethods.listAccounts, .init()).accounts == [bAccount])
      #expect(try await b.unary(AccountMethods.listContacts, .init()).contacts == [bContact])
    }
  }

  /// The delete answers count A's rows only (B has more under the same account and campaign), and B's
  /// rows read back unchanged after each delete.
  @Test func tenantAsDeletesOfSharedIdsLeaveTenantBsRows() async throws {
    try await DataTestContext.with { context in
      let (a, b) = (context.clientA, context.clientB)
      try await self.seed(a, prefix: "a", extras: 1, costs: 1)
      try await self.seed(b, prefix: "b", extras: 2, costs: 2)
      var getAccount = Tally_V1_GetAccountRequest()
      getAccount.id = "shared"
      var getContact = Tally_V1_GetContactRequest()
      getContact.id = "shared"
      var getOpportunity = Tally_V1_GetOpportunityRequest()
      getOpportunity.id = "shared"
      var getCampaign = Tally_V1_GetCampaignRequest()
      getCampaign.id = "shared"
      var contactsOfShared = Tally_V1_ListContactsRequest()
      contactsOfShared.accountID = "shared"
      var opportunitiesOfShared = Tally_V1_ListOpportunitiesRequest()
      opportunitiesOfShared.accountID = "shared"
      var costsOfShared = Tally_V1_ListCostsRequest()
      costsOfShared.campaignID = "shared"
      let bAccount = try await b.unary(AccountMethods.getAccount, getAccount)
      let bContacts = try await b.unary(AccountMethods.listContacts, contactsOfShared).contacts
      let bOpportunities = try await b.unary(OpportunityMethods.listOpportunities, opportunitiesOfShared).opportunities
      let bCampaign = try await b.unary(CampaignMethods.getCampaign, getCampaign)
      let bCosts = try await b.unary(CampaignMethods.listCosts, costsOfShared).costs
      #expect(
        bContacts.count == 3 && bOpportunities.count == 3 && bCampaign.targetAccountCount == 2 && bCosts.count == 2)

      var deleteContact = Tally_V1_DeleteContactRequest()
      deleteContact.id = "shared"
      _ = try await a.unary(AccountMethods.deleteContact, deleteContact)
      _ = await expectStatus(.notFound) { try await a.unary(AccountMethods.getContact, getContact) }
      #expect(try await b.unary(AccountMethods.listContacts, contactsOfShared).contacts == bContacts)

      var deleteOpportunity = Tally_V1_DeleteOpportunityRequest()
      deleteOpportunity.id = "shared"
      _ = try await a.unary(OpportunityMethods.deleteOpportunity, deleteOpportunity)
      _ = await expectStatus(.notFound) { try await a.unary(OpportunityMethods.getOpportunity, getOpportunity) }
      #expect(
        try await b.unary(OpportunityMethods.listOpportunities, opportunitiesOfShared).opportunities == bOpportunities)

      var deleteCampaign = Tally_V1_DeleteCampaignRequest()
      deleteCampaign.id = "shared"
      let campaignDeleted = try await a.unary(CampaignMethods.deleteCampaign, deleteCampaign)
      #expect(campaignDeleted.targetsRemoved == 2 && campaignDeleted.costsUnlinked == 1)
      _ = await expectStatus(.notFound) { try await a.unary(CampaignMethods.getCampaign, getCampaign) }
      #expect(try await b.unary(CampaignMethods.getCampaign, getCampaign) == bCampaign)
      #expect(try await b.unary(CampaignMethods.listCosts, costsOfShared).costs == bCosts)

      var deleteAccount = Tally_V1_DeleteAccountRequest()
      deleteAccount.id = "shared"
      let accountDeleted = try await a.unary(AccountMethods.deleteAccount, deleteAccount)
      #expect(accountDeleted.contactsDeleted == 1 && accountDeleted.opportunitiesDeleted == 1)
      _ = await expectStatus(.notFound) { try await a.unary(AccountMethods.getAccount, getAccount) }
      #expect(try await a.unary(AccountMethods.listContacts, .init()).contacts.isEmpty)
      #expect(try await a.unary(OpportunityMethods.listOpportunities, .init()).opportunities.isEmpty)

      // After all four deletes B still has every row, unchanged.
      #expect(try await b.unary(AccountMethods.getAccount, getAccount) == bAccount)
      #expect(try await b.unary(AccountMethods.listContacts, contactsOfShared).contacts == bContacts)
      #expect(
        try await b.unary(OpportunityMethods.listOpportunities, opportunitiesOfShared).opportunities == bOpportunities)
      #expect(try await b.unary(CampaignMethods.getCampaign, getCampaign) == bCampaign)
      #expect(try await b.unary(CampaignMethods.listCosts, costsOfShared).costs == bCosts)
    }
  }
}
