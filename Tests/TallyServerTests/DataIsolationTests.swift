import Foundation
import SwiftProtobuf
import TallyClient
import TallyProto
import TallyWire
import Testing

/// Tenant A's keys, with tenant B's ids, for every ABM data method: B's rows stay unseen and unchanged.
@Suite struct DataIsolationTests {
  /// Tenant B's accounts (`b-acct` and `b-other`), contact, campaign targeting `b-acct`, cost,
  /// opportunity and event.
  private func seedTenantB(_ context: DataTestContext) async throws {
    let b = context.clientB
    _ = try await b.unary(AccountMethods.upsertAccount, Fixture.upsert(Fixture.account("b-acct", name: "B Corp")))
    _ = try await b.unary(AccountMethods.upsertAccount, Fixture.upsert(Fixture.account("b-other")))
    _ = try await b.unary(AccountMethods.upsertContact, Fixture.upsert(Fixture.contact("b-contact", account: "b-acct")))
    _ = try await b.unary(CampaignMethods.upsertCampaign, Fixture.upsert(Fixture.campaign("b-camp")))
    var targets = Tally_V1_SetCampaignTargetsRequest()
    targets.campaignID = "b-camp"
    targets.add = ["b-acct"]
    _ = try await b.unary(CampaignMethods.setCampaignTargets, targets)
    var cost = Tally_V1_RecordCostRequest()
    cost.cost.key = "b-cost"
    cost.cost.campaignID = "b-camp"
    cost.cost.date = "2026-01-02"
    cost.cost.amount = 7
    cost.cost.category = "tools"
    _ = try await b.unary(CampaignMethods.recordCost, cost)
    var opportunity = Tally_V1_Opportunity()
    opportunity.id = "b-opp"
    opportunity.accountID = "b-acct"
    opportunity.name = "B deal"
    opportunity.status = "open"
    opportunity.type = "renewal"
    opportunity.createdAt = Fixture.time("2026-01-03T00:00:00Z")
    _ = try await b.unary(OpportunityMethods.upsertOpportunity, Fixture.upsert(opportunity))
    _ = try await b.record([Fixture.event("shared-key")])
  }

  /// The number of target accounts of B's campaign `b-camp`, read with B's key.
  private func bTargetCount(_ context: DataTestContext) async throws -> UInt32 {
    var get = Tally_V1_GetCampaignRequest()
    get.id = "b-camp"
    return try await context.clientB.unary(CampaignMethods.getCampaign, get).targetAccountCount
  }

  @Test func tenantAsKeysNeverReadOrChangeTenantBsRows() async throws {
    try await DataTestContext.with { context in
      try await self.seedTenantB(context)
      let bEvents = try await context.clientB.events()
      #expect(bEvents.count == 1)
      let a = context.clientA

      var getAccount = Tally_V1_GetAccountRequest()
      getAccount.id = "b-acct"
      _ = await expectStatus(.notFound) { try await a.unary(AccountMethods.getAccount, getAccount) }
      var deleteAccount = Tally_V1_DeleteAccountRequest()
      deleteAccount.id = "b-acct"
      _ = await expectStatus(.notFound) { try await a.unary(AccountMethods.deleteAccount, deleteAccount) }
      _ = await expectStatus(.notFound) {
        try await a.unary(AccountMethods.upsertContact, Fixture.upsert(Fixture.contact("x", account: "b-acct")))
      }
      var getContact = Tally_V1_GetContactRequest()
      getContact.id = "b-contact"
      _ = await expectStatus(.notFound) { try await a.unary(AccountMethods.getContact, getContact) }
      var deleteContact = Tally_V1_DeleteContactRequest()
      deleteContact.id = "b-contact"
      _ = await expectStatus(.notFound) { try await a.unary(AccountMethods.deleteContact, deleteContact) }
      var importing = Tally_V1_ImportAccountsRequest()
      importing.contacts = [Fixture.contact("y", account: "b-acct")]
      let orphanContacts = importing
      let imported = try await a.clientStreaming(AccountMethods.importAccounts) { try await $0.send(orphanContacts) }
      #expect(imported.contactsUpserted == 0 && imported.rejected == 1)

      var getCampaign = Tally_V1_GetCampaignRequest()
      getCampaign.id = "b-camp"
      _ = await expectStatus(.notFound) { try await a.unary(CampaignMethods.getCampaign, getCampaign) }
      // Each change would show in B's target count (1) if it reached B's campaign: checked after each.
      var targets = Tally_V1_SetCampaignTargetsRequest()
      targets.campaignID = "b-camp"
      targets.remove = ["b-acct"]
      _ = await expectStatus(.notFound) { try await a.unary(CampaignMethods.setCampaignTargets, targets) }
      #expect(try await self.bTargetCount(context) == 1)
      var addTargets = targets
      addTargets.remove = []
      addTargets.add = ["b-other"]
      _ = await expectStatus(.notFound) { try await a.unary(CampaignMethods.setCampaignTargets, addTargets) }
      #expect(try await self.bTargetCount(context) == 1)
      var cost = Tally_V1_RecordCostRequest()
      cost.cost.campaignID = "b-camp"
      cost.cost.date = "2026-01-02"
      cost.cost.category = "tools"
      _ = await expectStatus(.notFound) { try await a.unary(CampaignMethods.recordCost, cost) }
      var deleteCampaign = Tally_V1_DeleteCampaignRequest()
      deleteCampaign.id = "b-camp"
      _ = await expectStatus(.notFound) { try await a.unary(CampaignMethods.deleteCampaign, deleteCampaign) }
      var deleteOpportunity = Tally_V1_DeleteOpportunityRequest()
      deleteOpportunity.id = "b-opp"
      _ = await expectStatus(.notFound) { try await a.unary(OpportunityMethods.deleteOpportunity, deleteOpportunity) }
      var getOpportunity = Tally_V1_GetOpportunityRequest()
      getOpportunity.id = "b-opp"
      _ = await expectStatus(.notFound) { try await a.unary(OpportunityMethods.getOpportunity, getOpportunity) }
      var opportunity = Tally_V1_Opportunity()
      opportunity.id = "b-opp"
      opportunity.accountID = "b-acct"
      opportunity.name = "hijack"
      opportunity.status = "open"
      opportunity.type = "renewal"
      opportunity.createdAt = Fixture.time("2026-01-03T00:00:00Z")
      _ = await expectStatus(.notFound) {
        try await a.unary(OpportunityMethods.upsertOpportunity, Fixture.upsert(opportunity))
      }

      // Ids are per tenant: A may use B's ids for rows of its own, which B never sees.
      _ = try await a.unary(AccountMethods.upsertAccount, Fixture.upsert(Fixture.account("b-acct", name: "A's own")))
      // A's event under B's event key, with other content: stored as A's, and B's event keeps its own.
      var aEvent = Fixture.event("shared-key", type: "web_visit", at: "2026-03-02T11:00:00Z")
      aEvent.accountID = "b-acct"
      let events = try await a.record([aEvent])
      #expect(events.accepted == 1 && events.duplicates == 0)

      // Every list of A shows A's rows only.
      #expect(
        try await a.unary(AccountMethods.listAccounts, .init()).accounts.map(\.name) == ["A's own"])
      #expect(try await a.unary(AccountMethods.listContacts, .init()).contacts.isEmpty)
      #expect(try await a.unary(CampaignMethods.listCampaigns, .init()).campaigns.isEmpty)
      #expect(try await a.unary(CampaignMethods.listCosts, .init()).costs.isEmpty)
      #expect(try await a.unary(OpportunityMethods.listOpportunities, .init()).opportunities.isEmpty)
      #expect(try await a.events() == [aEvent])

      // Upserts with B's ids write A's own rows: an upsert never lands on B's row of that id.
      var campaign = Fixture.campaign("b-camp", channel: "ads")
      campaign.name = "A's campaign"
      _ = try await a.unary(CampaignMethods.upsertCampaign, Fixture.upsert(campaign))
      _ = try await a.unary(
        AccountMethods.upsertContact, Fixture.upsert(Fixture.contact("b-contact", account: "b-acct", role: "user")))
      opportunity.name = "A's deal"
      _ = try await a.unary(OpportunityMethods.upsertOpportunity, Fixture.upsert(opportunity))
      var aCost = cost
      aCost.cost.key = "b-cost"
      aCost.cost.amount = 9
      _ = try await a.unary(CampaignMethods.recordCost, aCost)
      var aTargets = targets
      aTargets.remove = []
      aTargets.add = ["b-acct"]
      _ = try await a.unary(CampaignMethods.setCampaignTargets, aTargets)
      // An account only B holds is no target of A's own campaign: refused, and nothing of the call kept.
      var bOnlyTarget = aTargets
      bOnlyTarget.add = ["b-other"]
      bOnlyTarget.remove = ["b-acct"]
      _ = await expectStatus(.notFound) { try await a.unary(CampaignMethods.setCampaignTargets, bOnlyTarget) }
      let aCampaign = try await a.unary(CampaignMethods.getCampaign, getCampaign)
      #expect(aCampaign.name == "A's campaign" && aCampaign.targetAccountCount == 1)
      #expect(try await a.unary(CampaignMethods.listCosts, .init()).costs.map(\.amount) == [9])

      // B's rows are exactly as B left them.
      let b = context.clientB
      #expect(try await b.unary(AccountMethods.getAccount, getAccount).name == "B Corp")
      let bContact = try await b.unary(AccountMethods.getContact, getContact)
      #expect(bContact.accountID == "b-acct" && bContact.role == "champion")
      let bCampaign = try await b.unary(CampaignMethods.getCampaign, getCampaign)
      #expect(bCampaign.targetAccountCount == 1 && bCampaign.name == "Campaign b-camp" && bCampaign.channel == "email")
      #expect(try await b.unary(OpportunityMethods.getOpportunity, getOpportunity).name == "B deal")
      #expect(try await b.unary(CampaignMethods.listCosts, .init()).costs.map(\.amount) == [7])
      #expect(try await b.events() == bEvents)
    }
  }

  @Test func readKeysCannotWriteAndOperatorsMustNameAnExistingTenant() async throws {
    try await DataTestContext.with { context in
      _ = await expectStatus(.permissionDenied) {
        try await context.readerA.unary(AccountMethods.upsertAccount, Fixture.upsert(Fixture.account("r")))
      }
      _ = await expectStatus(.permissionDenied) {
        try await context.readerA.clientStreaming(EventMethods.recordEvents) { _ in }
      }
      let noTenant = await expectStatus(.invalidArgument) {
        try await context.operatorClient.unary(AccountMethods.listAccounts, .init())
      }
      #expect(noTenant?.message.contains("tenant") == true)
      _ = await expectStatus(.notFound) {
        try await context.operatorClient.unary(
          AccountMethods.listAccounts, .init(), options: CallOptions(tenantID: UUID().uuidString))
      }
      // A stream whose events are all invalid reaches no transaction; the tenant is checked anyway
      // (it answered OK, one rejected, for a tenant that does not exist, or for none named).
      for options in [CallOptions(tenantID: UUID().uuidString), CallOptions()] {
        let expected: RPCError.Code = options.tenantID == nil ? .invalidArgument : .notFound
        _ = await expectStatus(expected) {
          try await context.operatorClient.clientStreaming(EventMethods.recordEvents, options: options) { writer in
            try await writer.send(.with { $0.events = [Tally_V1_Event()] })
          }
        }
        // An import whose one message is empty (what the client sends for a stream of none), likewise.
        _ = await expectStatus(expected) {
          try await context.operatorClient.clientStreaming(AccountMethods.importAccounts, options: options) { _ in }
        }
      }
      let asA = CallOptions(tenantID: context.tenantA)
      _ = try await context.operatorClient.unary(
        AccountMethods.upsertAccount, Fixture.upsert(Fixture.account("op")), options: asA)
      #expect(try await context.readerA.unary(AccountMethods.listAccounts, .init()).accounts.map(\.id) == ["op"])
    }
  }
}
