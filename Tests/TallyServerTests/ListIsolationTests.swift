import Foundation
import SwiftProtobuf
import TallyClient
import TallyProto
import TallyWire
import Testing

/// Tenant A's key with tenant B's ids as list filters, and with page tokens from B's lists: A's
/// lists show A's rows only, never one of B's.
@Suite struct ListIsolationTests {
  /// For each id: an account, its contact, a campaign, a cost of that campaign on `day`, an
  /// opportunity of the account, and an event naming the account, contact and campaign.
  private func seed(_ client: TallyClient, _ rows: [(id: String, day: String)]) async throws {
    for (id, day) in rows {
      _ = try await client.unary(AccountMethods.upsertAccount, Fixture.upsert(Fixture.account(id)))
      _ = try await client.unary(AccountMethods.upsertContact, Fixture.upsert(Fixture.contact(id, account: id)))
      _ = try await client.unary(CampaignMethods.upsertCampaign, Fixture.upsert(Fixture.campaign(id)))
      var cost = Tally_V1_RecordCostRequest()
      cost.cost.campaignID = id
      cost.cost.date = day
      cost.cost.amount = 5
      cost.cost.category = "media"
      _ = try await client.unary(CampaignMethods.recordCost, cost)
      var opportunity = Tally_V1_Opportunity()
      opportunity.id = id
      opportunity.accountID = id
      opportunity.name = "Deal \(id)"
      opportunity.status = "open"
      opportunity.type = "new_business"
      opportunity.createdAt = Fixture.time("\(day)T00:00:00Z")
      _ = try await client.unary(OpportunityMethods.upsertOpportunity, Fixture.upsert(opportunity))
    }
    let events = rows.map { row in
      var event = Fixture.event("event-\(row.id)", at: "\(row.day)T09:00:00Z")
      (event.accountID, event.contactID, event.campaignID) = (row.id, row.id, row.id)
      return event
    }
    #expect(try await client.record(events).accepted == UInt64(rows.count))
  }

  @Test func filtersNamingTenantBsRowsFindNoneWithTenantAsKey() async throws {
    try await DataTestContext.with { context in
      let (a, b) = (context.clientA, context.clientB)
      try await self.seed(b, [("b-1", "2026-01-02")])
      try await self.seed(a, [("a-1", "2026-01-02")])

      var contacts = Tally_V1_ListContactsRequest()
      contacts.accountID = "b-1"
      var costs = Tally_V1_ListCostsRequest()
      costs.campaignID = "b-1"
      var opportunities = Tally_V1_ListOpportunitiesRequest()
      opportunities.accountID = "b-1"
      var byAccount = Tally_V1_ListEventsRequest()
      byAccount.accountID = "b-1"
      var byContact = Tally_V1_ListEventsRequest()
      byContact.contactID = "b-1"
      var byCampaign = Tally_V1_ListEventsRequest()
      byCampaign.campaignID = "b-1"

      #expect(try await a.unary(AccountMethods.listContacts, contacts).contacts.isEmpty)
      #expect(try await a.unary(CampaignMethods.listCosts, costs).costs.isEmpty)
      #expect(try await a.unary(OpportunityMethods.listOpportunities, opportunities).opportunities.isEmpty)
      for request in [byAccount, byContact, byCampaign] {
        #expect(try await a.events(request).isEmpty, "\(request)")
      }

      // The same filters with B's key find B's rows: the empty lists above are isolation, not a broken filter.
      #expect(try await b.unary(AccountMethods.listContacts, contacts).contacts.map(\.id) == ["b-1"])
      #expect(try await b.unary(CampaignMethods.listCosts, costs).costs.map(\.campaignID) == ["b-1"])
      #expect(try await b.unary(OpportunityMethods.listOpportunities, opportunities).opportunities.map(\.id) == ["b-1"])
      for request in [byAccount, byContact, byCampaign] {
        #expect(try await b.events(request).map(\.key) == ["event-b-1"], "\(request)")
      }
    }
  }

  /// A page token is a position in the caller's own list: with B's token, A's key gets A's rows after that
  /// position (`c-1`, not `a-1`) and none of B's (`b-2`, `b-3` follow it in B's list).
  @Test func pageTokensFromTenantBsListsPageTenantAsRowsOnly() async throws {
    try await DataTestContext.with { context in
      let (a, b) = (context.clientA, context.clientB)
      try await self.seed(b, [("b-1", "2026-01-02"), ("b-2", "2026-01-03"), ("b-3", "2026-01-04")])
      try await self.seed(a, [("a-1", "2026-01-01"), ("c-1", "2026-01-05")])

      var accounts = Tally_V1_ListAccountsRequest()
      accounts.pageSize = 1
      accounts.pageToken = try await b.unary(AccountMethods.listAccounts, accounts).nextPageToken
      accounts.pageSize = 10
      #expect(!accounts.pageToken.isEmpty)
      #expect(try await a.unary(AccountMethods.listAccounts, accounts).accounts.map(\.id) == ["c-1"])

      var contacts = Tally_V1_ListContactsRequest()
      contacts.pageSize = 1
      contacts.pageToken = try await b.unary(AccountMethods.listContacts, contacts).nextPageToken
      contacts.pageSize = 10
      #expect(!contacts.pageToken.isEmpty)
      #expect(try await a.unary(AccountMethods.listContacts, contacts).contacts.map(\.id) == ["c-1"])

      var campaigns = Tally_V1_ListCampaignsRequest()
      campaigns.pageSize = 1
      campaigns.pageToken = try await b.unary(CampaignMethods.listCampaigns, campaigns).nextPageToken
      campaigns.pageSize = 10
      #expect(!campaigns.pageToken.isEmpty)
      #expect(try await a.unary(CampaignMethods.listCampaigns, campaigns).campaigns.map(\.id) == ["c-1"])

      // Costs page by (day, cost id): B's token sits after B's cost of 2026-01-02.
      var costs = Tally_V1_ListCostsRequest()
      costs.pageSize = 1
      costs.pageToken = try await b.unary(CampaignMethods.listCosts, costs).nextPageToken
      costs.pageSize = 10
      #expect(!costs.pageToken.isEmpty)
      #expect(try await a.unary(CampaignMethods.listCosts, costs).costs.map(\.campaignID) == ["c-1"])

      var opportunities = Tally_V1_ListOpportunitiesRequest()
      opportunities.pageSize = 1
      opportunities.pageToken = try await b.unary(OpportunityMethods.listOpportunities, opportunities).nextPageToken
      opportunities.pageSize = 10
      #expect(!opportunities.pageToken.isEmpty)
      #expect(try await a.unary(OpportunityMethods.listOpportunities, opportunities).opportunities.map(\.id) == ["c-1"])
    }
  }

  /// Surveys page by creation time: A's survey made before B's stays before the token, the later one follows it.
  @Test func aPageTokenFromTenantBsSurveysPagesTenantAsSurveysOnly() async throws {
    try await DataTestContext.with { context in
      let (a, b) = (context.clientA, context.clientB)
      _ = try await a.unary(SurveyMethods.createSurvey, SurveyFixture.survey("nps", title: "A early"))
      for title in ["B 1", "B 2", "B 3"] {
        _ = try await b.unary(SurveyMethods.createSurvey, SurveyFixture.survey("nps", title: title))
      }
      let late = try await a.unary(SurveyMethods.createSurvey, SurveyFixture.survey("nps", title: "A late"))
      var surveys = Tally_V1_ListSurveysRequest()
      surveys.pageSize = 1
      let first = try await b.unary(SurveyMethods.listSurveys, surveys)
      #expect(first.surveys.map(\.title) == ["B 1"] && !first.nextPageToken.isEmpty)
      surveys.pageToken = first.nextPageToken
      surveys.pageSize = 10
      #expect(try await a.unary(SurveyMethods.listSurveys, surveys).surveys.map(\.id) == [late.id])
    }
  }
}
