import SwiftProtobuf
import TallyClient
import TallyProto
import TallyWire
import Testing

@testable import TallyCore

/// The KPI methods, asked by tenant A with filters naming ids that tenant B's data holds too: A's
/// answers are the same before and after B loads its own data and NPS answers under those ids.
@Suite struct KpiDetailIsolationTests {
  /// A's ids in every filter the methods take: B's rows carry the same ones.
  static var filter: Tally_V1_KpiFilter {
    var filter = Tally_V1_KpiFilter()
    filter.accountIds = ["a1", "a2", "a3", "a4", "zz"]
    filter.campaignIds = ["e1", "ad1"]
    return filter
  }

  /// Maps in a fixed order: a dictionary's order differs between two equal answers.
  static var deterministic: BinaryEncodingOptions {
    var options = BinaryEncodingOptions()
    options.useDeterministicOrdering = true
    return options
  }

  /// Every detail method's answer to tenant `client`, serialized, in one order.
  static func answers(_ client: TallyClient) async throws -> [[UInt8]] {
    let (from, to, asOf) = (KpiServiceTests.quarter.from, KpiServiceTests.quarter.to, KpiServiceTests.quarter.to)
    var engagement = Tally_V1_GetAccountEngagementRequest()
    (engagement.asOf, engagement.filter) = (asOf, Self.filter)
    var journey = Tally_V1_GetJourneyRequest()
    (journey.asOf, journey.filter) = (asOf, Self.filter)
    var health = Tally_V1_GetAccountHealthRequest()
    (health.asOf, health.filter) = (asOf, Self.filter)
    var content = Tally_V1_GetContentEngagementRequest()
    (content.from, content.to, content.filter) = (from, to, Self.filter)
    var coverage = Tally_V1_GetCoverageRequest()
    (coverage.from, coverage.to, coverage.filter) = (from, to, Self.filter)
    var reps = Tally_V1_GetRepActivityRequest()
    (reps.from, reps.to, reps.filter) = (from, to, Self.filter)
    var influence = Tally_V1_GetInfluenceRequest()
    (influence.from, influence.to, influence.filter) = (from, to, Self.filter)
    var attribution = Tally_V1_GetAttributionRequest()
    (attribution.from, attribution.to) = (from, to)
    attribution.filter.campaignIds = Self.filter.campaignIds
    // The whole catalogue, unfiltered and with each filter: a join on an id alone would mix the
    // tenants' rows in a filtered answer only.
    var accountsOnly = Tally_V1_KpiFilter()
    accountsOnly.accountIds = Self.filter.accountIds
    var campaignsOnly = Tally_V1_KpiFilter()
    campaignsOnly.campaignIds = Self.filter.campaignIds
    var dashboards: [[UInt8]] = []
    for filter in [Tally_V1_KpiFilter(), accountsOnly, campaignsOnly] {
      // Filtered, the default dashboard: a KPI named that cannot take the filter is refused.
      let names = filter == Tally_V1_KpiFilter() ? KpiCatalog.all.map(\.name) : []
      let kpis = try await client.unary(KpiMethods.getKpis, KpiServiceTests.request(names, filter: filter))
      dashboards.append(try kpis.serializedBytes(options: Self.deterministic))
    }
    return dashboards + [
      try await client.unary(KpiMethods.getAccountEngagement, engagement).serializedBytes(options: Self.deterministic),
      try await client.unary(KpiMethods.getJourney, journey).serializedBytes(options: Self.deterministic),
      try await client.unary(KpiMethods.getAccountHealth, health).serializedBytes(options: Self.deterministic),
      try await client.unary(KpiMethods.getContentEngagement, content).serializedBytes(options: Self.deterministic),
      try await client.unary(KpiMethods.getCoverage, coverage).serializedBytes(options: Self.deterministic),
      try await client.unary(KpiMethods.getRepActivity, reps).serializedBytes(options: Self.deterministic),
      try await client.unary(KpiMethods.getInfluence, influence).serializedBytes(options: Self.deterministic),
      try await client.unary(KpiMethods.getAttribution, attribution).serializedBytes(options: Self.deterministic),
    ]
  }

  @Test func tenantBsRowsUnderTenantAsIdsNeverChangeTenantAsAnswers() async throws {
    try await DataTestContext.with { context in
      try await KpiFixture(count: 300, seed: 99).load(context.clientA)
      try await AccountHealthTests.answerNPS(context, client: context.clientA, collector: context.collectorA)
      let before = try await Self.answers(context.readerA)
      try await KpiFixture(count: 500, seed: 7).load(context.clientB)
      try await AccountHealthTests.answerNPS(context, client: context.clientB, collector: context.collectorB)
      // The fixtures share their accounts and contacts: B also has a contact and a rep's calls of its own.
      _ = try await context.clientB.unary(
        AccountMethods.upsertContact, Fixture.upsert(Fixture.contact("b-only", account: "a1")))
      var dial = Fixture.event("b-dial", type: "call_dialed", at: "2026-02-03T10:00:00Z")
      (dial.accountID, dial.repID) = ("a1", "rep-b")
      _ = try await context.clientB.record([dial])
      let after = try await Self.answers(context.readerA)
      let methods = [
        "kpis", "kpis for accounts", "kpis for campaigns", "engagement", "journey", "health", "content", "coverage",
        "reps", "influence", "attribution",
      ]
      for (index, method) in methods.enumerated() {
        #expect(after[index] == before[index], "tenant B's rows changed tenant A's \(method)")

      }
      // B's answers to the same requests differ: the filters find B's rows for B, so A's
      // unchanged answers are isolation, not requests that match nothing.
      let seenByB = try await Self.answers(context.clientB)
      for (index, method) in methods.enumerated() {
        #expect(seenByB[index] != before[index], "\(method) answered B as A: the test could not fail")
      }
    }
  }
}
