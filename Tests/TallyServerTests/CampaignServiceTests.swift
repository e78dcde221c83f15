import Foundation
import SwiftProtobuf
import TallyClient
import TallyProto
import TallyStore
import TallyTestSupport
import TallyWire
import Testing

@Suite struct CampaignServiceTests {
  private func cost(_ key: String, _ date: String, _ amount: Int64, campaign: String = "q1")
    -> Tally_V1_RecordCostRequest
  {
    var request = Tally_V1_RecordCostRequest()
    request.cost.key = key
    request.cost.campaignID = campaign
    request.cost.date = date
    request.cost.amount = amount
    request.cost.category = "media"
    return request
  }

  /// A call's added targets are written in id order, whatever the client's: a call that shares
  /// accounts with another writer waits for it instead of deadlocking with it (one ABORTED).
  @Test func callsAddingTheSameTargetsAddThemInIdOrder() async throws {
    try await DataTestContext.with { context in
      for id in ["a", "b"] {
        _ = try await context.clientA.unary(AccountMethods.upsertAccount, Fixture.upsert(Fixture.account(id)))
      }
      _ = try await context.clientA.unary(CampaignMethods.upsertCampaign, Fixture.upsert(Fixture.campaign("q1")))
      // Another writer that holds "a", then writes "b", as a concurrent call in id order does.
      let write = """
        INSERT INTO campaign_targets (tenant_id, campaign_id, account_id)
        VALUES (current_setting('tally.tenant_id')::uuid, 'q1', $1)
        """
      let writer = try await HeldTransaction(context.pool, tenant: context.tenantA) { connection in
        try connection.query(write, ["a"])
      } beforeCommit: { connection in
        try connection.query(write, ["b"])
      }
      let call = Task { () async throws -> Tally_V1_SetCampaignTargetsResponse in
        var targets = Tally_V1_SetCampaignTargetsRequest()
        targets.campaignID = "q1"
        targets.add = ["b", "a"]
        return try await context.clientA.unary(CampaignMethods.setCampaignTargets, targets)
      }
      #expect(try await waitUntilALockIsAwaited(in: context.appURL), "the call never waited for the writer")
      try await writer.release()
      let response = try await call.value
      #expect(response.added == 0 && response.targetAccountCount == 2, "\(response)")
    }
  }

  /// A client that lost the answer to RecordCost repeats it: after the campaign's deletion too it
  /// gets the stored cost (now tied to no campaign), not NOT_FOUND, which would say it was never
  /// recorded.
  @Test func aCostRepeatedAfterItsCampaignsDeletionAnswersTheStoredCost() async throws {
    try await DataTestContext.with { context in
      _ = try await context.clientA.unary(CampaignMethods.upsertCampaign, Fixture.upsert(Fixture.campaign("q1")))
      let first = try await context.clientA.unary(CampaignMethods.recordCost, self.cost("inv-9", "2026-01-15", 900))
      var delete = Tally_V1_DeleteCampaignRequest()
      delete.id = "q1"
      _ = try await context.clientA.unary(CampaignMethods.deleteCampaign, delete)
      let repeated = try await context.clientA.unary(CampaignMethods.recordCost, self.cost("inv-9", "2026-01-15", 900))
      #expect(repeated.costID == first.costID && repeated.campaignID.isEmpty && repeated.amount == 900)
      // A new cost still needs its campaign, and a different cost under the key is still refused.
      _ = await expectStatus(.notFound) {
        try await context.clientA.unary(CampaignMethods.recordCost, self.cost("inv-10", "2026-01-15", 900))
      }
      _ = await expectStatus(.alreadyExists) {
        try await context.clientA.unary(CampaignMethods.recordCost, self.cost("inv-9", "2026-01-16", 900))
      }
    }
  }

  @Test func campaignsTargetsAndCosts() async throws {
    try await DataTestContext.with { context in
      for id in ["acme", "globex", "initech"] {
        _ = try await context.clientA.unary(AccountMethods.upsertAccount, Fixture.upsert(Fixture.account(id)))
      }
      var campaign = Fixture.campaign("q1", channel: "webinar")
      campaign.endsAt = Fixture.time("2026-03-31T00:00:00Z")
      campaign.budget = 10_000_00
      let stored = try await context.clientA.unary(CampaignMethods.upsertCampaign, Fixture.upsert(campaign))
      #expect(stored.channel == "webinar" && stored.budget == 10_000_00 && stored.endsAt == campaign.endsAt)

      var targets = Tally_V1_SetCampaignTargetsRequest()
      targets.campaignID = "q1"
      targets.add = ["acme", "globex", "initech", "acme"]
      var changed = try await context.clientA.unary(CampaignMethods.setCampaignTargets, targets)
      #expect(changed.added == 3 && changed.targetAccountCount == 3)
      targets.add = ["acme", "nobody"]
      targets.remove = ["globex"]
      let refused = await expectStatus(.notFound) {
        try await context.clientA.unary(CampaignMethods.setCampaignTargets, targets)
      }
      #expect(refused?.message.contains("nobody") == true)
      #expect(refused?.fieldViolations.map(\.field) == ["add"], "NOT_FOUND names the field whose id is unknown")
      targets.add = []
      changed = try await context.clientA.unary(CampaignMethods.setCampaignTargets, targets)
      #expect(changed.removed == 1 && changed.targetAccountCount == 2)
      var get = Tally_V1_GetCampaignRequest()
      get.id = "q1"
      #expect(try await context.readerA.unary(CampaignMethods.getCampaign, get).targetAccountCount == 2)
      _ = try await context.clientA.unary(CampaignMethods.upsertCampaign, Fixture.upsert(Fixture.campaign("q2")))
      var byChannel = Tally_V1_ListCampaignsRequest()
      byChannel.channel = "webinar"
      let webinars = try await context.readerA.unary(CampaignMethods.listCampaigns, byChannel)
      #expect(webinars.campaigns.map(\.id) == ["q1"] && webinars.campaigns[0].targetAccountCount == 2)
      let all = try await context.readerA.unary(CampaignMethods.listCampaigns, Tally_V1_ListCampaignsRequest())
      #expect(all.campaigns.map(\.id) == ["q1", "q2"])

      // Costs: a retried key answers the first cost; another cost under that key is refused.
      let first = try await context.clientA.unary(CampaignMethods.recordCost, self.cost("inv-1", "2026-01-15", 500_00))
      let retried = try await context.clientA.unary(
        CampaignMethods.recordCost, self.cost("inv-1", "2026-01-15", 500_00))
      #expect(retried.costID == first.costID)
      _ = await expectStatus(.alreadyExists) {
        try await context.clientA.unary(CampaignMethods.recordCost, self.cost("inv-1", "2026-01-15", 1))
      }
      for day in 1...12 {
        _ = try await context.clientA.unary(
          CampaignMethods.recordCost, self.cost("day-\(day)", String(format: "2026-02-%02d", day), Int64(day)))
      }
      var list = Tally_V1_ListCostsRequest()
      list.pageSize = 5
      list.fromDate = "2026-02-01"
      var amounts: [Int64] = []
      repeat {
        let page = try await context.readerA.unary(CampaignMethods.listCosts, list)
        amounts += page.costs.map(\.amount)
        list.pageToken = page.nextPageToken
      } while !list.pageToken.isEmpty
      #expect(amounts == Array(1...12))
      _ = await expectStatus(.notFound) {
        try await context.clientA.unary(CampaignMethods.recordCost, self.cost("x", "2026-01-01", 1, campaign: "nope"))
      }

      // Deleting the campaign keeps its costs, no longer tied to it.
      var delete = Tally_V1_DeleteCampaignRequest()
      delete.id = "q1"
      let deleted = try await context.clientA.unary(CampaignMethods.deleteCampaign, delete)
      #expect(deleted.targetsRemoved == 2 && deleted.costsUnlinked == 13)
      _ = await expectStatus(.notFound) { try await context.readerA.unary(CampaignMethods.getCampaign, get) }
      let costs = try await context.readerA.unary(CampaignMethods.listCosts, Tally_V1_ListCostsRequest())
      #expect(costs.costs.count == 13 && costs.costs.allSatisfy { $0.campaignID.isEmpty })
      _ = await expectStatus(.notFound) { try await context.clientA.unary(CampaignMethods.deleteCampaign, delete) }

      // Texts compare by their bytes, as the database does: "café" in two Unicode forms differs.
      var composed = self.cost("inv-2", "2026-01-15", 1, campaign: "q2")
      composed.cost.note = "caf\u{E9}"
      _ = try await context.clientA.unary(CampaignMethods.recordCost, composed)
      var decomposed = composed
      decomposed.cost.note = "cafe\u{301}"
      #expect(composed.cost.note == decomposed.cost.note, "Swift's == calls them equal")
      _ = await expectStatus(.alreadyExists) {
        try await context.clientA.unary(CampaignMethods.recordCost, decomposed)
      }
    }
  }

  @Test func badCampaignsAndCostsNameTheField() async throws {
    try await DataTestContext.with { context in
      var campaign = Fixture.campaign("bad", channel: "telepathy")
      await expectViolation("campaign.channel") {
        try await context.clientA.unary(CampaignMethods.upsertCampaign, Fixture.upsert(campaign))
      }
      campaign.channel = "ads"
      campaign.endsAt = Fixture.time("2025-01-01T00:00:00Z")
      await expectViolation("campaign.ends_at") {
        try await context.clientA.unary(CampaignMethods.upsertCampaign, Fixture.upsert(campaign))
      }
      campaign.clearEndsAt()
      campaign.clearStartsAt()
      await expectViolation("campaign.starts_at") {
        try await context.clientA.unary(CampaignMethods.upsertCampaign, Fixture.upsert(campaign))
      }
      // Not a real day, and signs that Swift's Int("+1") would take but PostgreSQL's date would not.
      for date in ["2026-02-30", "2024-+1-01", "2024-01-+1", "1899-12-31"] {
        await expectViolation("cost.date") {
          try await context.clientA.unary(CampaignMethods.recordCost, self.cost("k", date, 1, campaign: ""))
        }
      }
      await expectViolation("cost.amount") {
        try await context.clientA.unary(CampaignMethods.recordCost, self.cost("k", "2026-02-03", -5, campaign: ""))
      }
      var unknownCategory = self.cost("k", "2026-02-03", 5, campaign: "")
      unknownCategory.cost.category = "bribes"
      await expectViolation("cost.category") {
        try await context.clientA.unary(CampaignMethods.recordCost, unknownCategory)
      }
      var targets = Tally_V1_SetCampaignTargetsRequest()
      targets.campaignID = "q1"
      targets.add = Array(repeating: "a", count: 10_001)
      await expectViolation("add") { try await context.clientA.unary(CampaignMethods.setCampaignTargets, targets) }
      let list = try await context.readerA.unary(CampaignMethods.listCampaigns, Tally_V1_ListCampaignsRequest())
      #expect(list.campaigns.isEmpty)
      let costs = try await context.readerA.unary(CampaignMethods.listCosts, Tally_V1_ListCostsRequest())
      #expect(costs.costs.isEmpty)
    }
  }
}

@Suite struct OpportunityServiceTests {
  private func opportunity(_ id: String, status: String = "open") -> Tally_V1_Opportunity {
    var opportunity = Tally_V1_Opportunity()
    opportunity.id = id
    opportunity.accountID = "acme"
    opportunity.name = "Deal \(id)"
    opportunity.amount = 500_000_00
    opportunity.status = status
    opportunity.type = "new_business"
    opportunity.stage = "Discovery"
    opportunity.createdAt = Fixture.time("2026-01-10T00:00:00Z")
    opportunity.contractMonths = 60
    return opportunity
  }

  @Test func opportunitiesRoundTripAndCheckTheirDates() async throws {
    try await DataTestContext.with { context in
      _ = try await context.clientA.unary(AccountMethods.upsertAccount, Fixture.upsert(Fixture.account("acme")))
      let open = try await context.clientA.unary(
        OpportunityMethods.upsertOpportunity, Fixture.upsert(self.opportunity("o1")))
      #expect(open.status == "open" && open.contractMonths == 60 && !open.hasClosedAt)
      var won = self.opportunity("o1", status: "won")
      won.closedAt = Fixture.time("2026-04-01T00:00:00Z")
      won.acceptedAt = Fixture.time("2026-01-12T00:00:00Z")
      let closed = try await context.clientA.unary(OpportunityMethods.upsertOpportunity, Fixture.upsert(won))
      #expect(closed.closedAt == won.closedAt && closed.acceptedAt == won.acceptedAt)
      _ = try await context.clientA.unary(OpportunityMethods.upsertOpportunity, Fixture.upsert(self.opportunity("o2")))
      var list = Tally_V1_ListOpportunitiesRequest()
      list.status = "won"
      #expect(
        try await context.readerA.unary(OpportunityMethods.listOpportunities, list).opportunities.map(\.id) == ["o1"])

      var early = won
      early.closedAt = Fixture.time("2025-12-01T00:00:00Z")
      await expectViolation("opportunity.closed_at") {
        try await context.clientA.unary(OpportunityMethods.upsertOpportunity, Fixture.upsert(early))
      }
      var unclosed = won
      unclosed.clearClosedAt()
      await expectViolation("opportunity.closed_at") {
        try await context.clientA.unary(OpportunityMethods.upsertOpportunity, Fixture.upsert(unclosed))
      }
      var negative = self.opportunity("o3")
      negative.amount = -1
      await expectViolation("opportunity.amount") {
        try await context.clientA.unary(OpportunityMethods.upsertOpportunity, Fixture.upsert(negative))
      }
      var badType = self.opportunity("o3")
      badType.type = "upsell"
      await expectViolation("opportunity.type") {
        try await context.clientA.unary(OpportunityMethods.upsertOpportunity, Fixture.upsert(badType))
      }
      var orphan = self.opportunity("o3")
      orphan.accountID = "nobody"
      let unknown = await expectStatus(.notFound) {
        try await context.clientA.unary(OpportunityMethods.upsertOpportunity, Fixture.upsert(orphan))
      }
      #expect(unknown?.fieldViolations.map(\.field) == ["opportunity.account_id"])
      var get = Tally_V1_GetOpportunityRequest()
      get.id = "o1"
      #expect(try await context.readerA.unary(OpportunityMethods.getOpportunity, get).status == "won")
      var delete = Tally_V1_DeleteOpportunityRequest()
      delete.id = "o1"
      _ = try await context.clientA.unary(OpportunityMethods.deleteOpportunity, delete)
      _ = await expectStatus(.notFound) { try await context.readerA.unary(OpportunityMethods.getOpportunity, get) }
      _ = await expectStatus(.notFound) {
        try await context.clientA.unary(OpportunityMethods.deleteOpportunity, delete)
      }
    }
  }
}
