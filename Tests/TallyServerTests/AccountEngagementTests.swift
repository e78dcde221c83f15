import Foundation
import SwiftProtobuf
import TallyClient
import TallyProto
import TallyWire
import Testing

/// GetAccountEngagement against scores computed in Swift from the fixture's events.
@Suite struct AccountEngagementTests {
  struct Expected {
    var score = 0.0
    var minutes = 0.0
    var people = Set<String>()
    var lastWeek = 0.0
    var weeksBefore = 0.0
  }

  /// The score of every account as docs/KPIS.md defines it, from the fixture rows.
  static func reference(
    _ fixture: KpiFixture, asOf: Int, halfLife: Double, weights: [String: Double], roleMultiplier: Double,
    tierMultipliers: [Int: Double], campaigns: Set<String>? = nil
  ) -> [String: Expected] {
    let window = min(max(8 * Int(halfLife), 35), 365)
    var expected: [String: Expected] = [:]
    for event in fixture.events {
      guard let account = event.account, let tier = fixture.accountTiers[account], event.day < asOf,
        event.day >= asOf - window, let weight = weights[event.type], weight > 0,
        campaigns?.contains(event.campaign ?? "") ?? true
      else { continue }
      let known = event.contact.map { KpiFixture.contacts[$0] != nil } ?? false
      let minutes = weight * (known ? roleMultiplier : 1) * (tierMultipliers[tier] ?? 1)
      let age = Double(asOf - event.day)
      expected[account, default: Expected()].score += minutes * pow(0.5, age / halfLife)
      expected[account, default: Expected()].minutes += minutes
      if let contact = event.contact { expected[account, default: Expected()].people.insert(contact) }
      if event.day >= asOf - 7 {
        expected[account, default: Expected()].lastWeek += minutes
      } else if event.day >= asOf - 35 {
        expected[account, default: Expected()].weeksBefore += minutes
      }
    }
    return expected.filter { $0.value.score > 0 }
  }

  /// The journey stage of docs/KPIS.md, from the fixture's customers and deals.
  static func stage(_ fixture: KpiFixture, _ account: String, asOf: Int, score: Double, engaged: Double, mqa: Double)
    -> String
  {
    let midnight = asOf * 86_400
    if let customer = KpiFixture.customers[account], KpiFixture.day(customer.since) < asOf,
      customer.churned.map({ KpiFixture.day($0) >= asOf }) ?? true
    {
      return "customer"
    }
    let live = fixture.opportunities.filter {
      $0.account == account && $0.created < midnight && !($0.status == "lost" && ($0.closed ?? .max) < midnight)
    }
    if !live.isEmpty { return "opportunity" }
    return score >= mqa ? "mqa" : score >= engaged ? "engaged" : score > 0 ? "aware" : "unaware"
  }

  @Test func scoresMatchTheFixtureWithTheTenantsSettings() async throws {
    try await DataTestContext.with { context in
      let fixture = KpiFixture(count: 2_000, seed: 42)
      try await fixture.load(context.clientA)
      var update = Tally_V1_UpdateKpiSettingsRequest()
      update.settings.eventWeights = ["web_visit": 4, "email_opened": 0]
      update.settings.roleMultipliers = ["champion": 2]
      update.settings.tierMultipliers = ["1": 1.5]
      update.settings.decayHalfLifeDays = 20
      let settings = try await context.clientA.unary(KpiMethods.updateSettings, update)
      let expected = Self.reference(
        fixture, asOf: KpiFixture.day("2026-03-20"), halfLife: 20, weights: settings.eventWeights, roleMultiplier: 2,
        tierMultipliers: [1: 1.5])
      // An MQA threshold between the lowest and the highest score, so some accounts qualify and some do not.
      let scores = expected.values.map(\.score)
      let threshold = ((scores.min() ?? 0) + (scores.max() ?? 0)) / 2
      update.settings.mqaThreshold = threshold
      // "Engaged" must lie below MQA; the default 10 may not.
      update.settings.engagedThreshold = threshold / 2
      _ = try await context.clientA.unary(KpiMethods.updateSettings, update)

      var request = Tally_V1_GetAccountEngagementRequest()
      request.asOf = "2026-03-20"
      let response = try await context.readerA.unary(KpiMethods.getAccountEngagement, request)
      #expect(response.windowDays == 160 && response.mqaThreshold == threshold)
      #expect(Set(response.accounts.map(\.accountID)) == Set(expected.keys))
      #expect(response.accounts.map(\.score) == response.accounts.map(\.score).sorted(by: >))
      for account in response.accounts {
        let want = try #require(expected[account.accountID])
        #expect(abs(account.score - want.score) < 1e-6 * max(1, want.score), "\(account.accountID)")
        #expect(abs(account.engagementMinutes - want.minutes) < 1e-6 * max(1, want.minutes))
        #expect(account.peopleEngaged == UInt64(want.people.count), "\(account.accountID)")
        #expect(abs(account.minutesLastWeek - want.lastWeek) < 1e-6)
        #expect(account.hasSpike == (want.weeksBefore > 0))
        if want.weeksBefore > 0 { #expect(abs(account.spike - want.lastWeek / (want.weeksBefore / 4)) < 1e-9) }
        #expect(account.marketingQualified == (want.score >= threshold))
        let stage = Self.stage(
          fixture, account.accountID, asOf: KpiFixture.day("2026-03-20"), score: want.score, engaged: 10,
          mqa: threshold)
        #expect(account.stage == stage, "\(account.accountID)")
        #expect(account.topEvents.count <= 5 && account.topEvents.map(\.score).reduce(0, +) <= account.score + 1e-9)
        #expect(account.topEvents.map(\.score) == account.topEvents.map(\.score).sorted(by: >))
      }
      let qualified = response.accounts.filter(\.marketingQualified).count
      #expect(qualified > 0 && qualified < response.accounts.count, "the fixture has MQAs and others")
      // The MQA KPI sums the same scores in a query of its own (MarketingQualifiedAccounts): over a
      // period that ends on the same day, it counts the same accounts, role and tier multipliers included.
      var kpis = Tally_V1_GetKpisRequest()
      kpis.names = ["marketing_qualified_accounts"]
      (kpis.from, kpis.to) = ("2026-02-20", "2026-03-20")
      let mqa = try await context.readerA.unary(KpiMethods.getKpis, kpis)
      #expect(mqa.kpis.first?.current.numerator == Double(qualified))

      // Filters: one campaign's events, target accounts only, a limit.
      request.filter.campaignIds = ["e1"]
      request.targetsOnly = true
      request.limit = 2
      let filtered = try await context.readerA.unary(KpiMethods.getAccountEngagement, request)
      let byCampaign = Self.reference(
        fixture, asOf: KpiFixture.day("2026-03-20"), halfLife: 20, weights: settings.eventWeights, roleMultiplier: 2,
        tierMultipliers: [1: 1.5], campaigns: ["e1"]
      ).filter { (KpiFixture.tiers[$0.key] ?? 0) > 0 }
      let top = byCampaign.sorted { $0.value.score > $1.value.score }.prefix(2).map(\.key)
      #expect(filtered.accounts.map(\.accountID) == top)
      // People are counted for the page's accounts only, with the same filter.
      #expect(filtered.accounts.map(\.peopleEngaged) == top.map { UInt64(byCampaign[$0]?.people.count ?? 0) })

      // A short half-life still reads the 4 weeks the spike compares with (8 half-lives are 16 days).
      update.settings.decayHalfLifeDays = 2
      _ = try await context.clientA.unary(KpiMethods.updateSettings, update)
      var short = Tally_V1_GetAccountEngagementRequest()
      short.asOf = "2026-03-20"
      short.limit = 1_000
      let shortResponse = try await context.readerA.unary(KpiMethods.getAccountEngagement, short)
      let shortExpected = Self.reference(
        fixture, asOf: KpiFixture.day("2026-03-20"), halfLife: 2, weights: settings.eventWeights, roleMultiplier: 2,
        tierMultipliers: [1: 1.5])
      #expect(shortResponse.windowDays == 35)
      #expect(Set(shortResponse.accounts.map(\.accountID)) == Set(shortExpected.keys))
      for account in shortResponse.accounts {
        let want = try #require(shortExpected[account.accountID])
        #expect(abs(account.engagementMinutes - want.minutes) < 1e-6 * max(1, want.minutes), "\(account.accountID)")
        #expect(account.hasSpike == (want.weeksBefore > 0), "\(account.accountID)")
        if want.weeksBefore > 0 { #expect(abs(account.spike - want.lastWeek / (want.weeksBefore / 4)) < 1e-9) }
      }
      #expect(shortExpected.values.contains { $0.weeksBefore > 0 }, "the fixture has events 8 to 35 days back")

      // Tenant B sees nothing of A's accounts.
      #expect(try await context.clientB.unary(KpiMethods.getAccountEngagement, request).accounts.isEmpty)
      var bad = Tally_V1_GetAccountEngagementRequest()
      bad.asOf = "20260320"
      await expectViolation("as_of") { try await context.readerA.unary(KpiMethods.getAccountEngagement, bad) }
      bad.asOf = ""
      bad.limit = 5_000
      await expectViolation("limit") { try await context.readerA.unary(KpiMethods.getAccountEngagement, bad) }
    }
  }

  /// A tier multiplier of 0 zeroes its accounts' scores: they are not ranked (they were, at 0).
  @Test func accountsWhoseMultiplierZeroesTheirScoreAreNotRanked() async throws {
    try await DataTestContext.with { context in
      let fixture = KpiFixture(count: 2_000, seed: 42)
      try await fixture.load(context.clientA)
      var request = Tally_V1_GetAccountEngagementRequest()
      request.asOf = "2026-03-20"
      let before = try await context.readerA.unary(KpiMethods.getAccountEngagement, request)
      #expect(before.accounts.contains { $0.tier == 1 }, "the fixture ranks tier 1 accounts")
      var update = Tally_V1_UpdateKpiSettingsRequest()
      update.settings.tierMultipliers = ["1": 0]
      _ = try await context.clientA.unary(KpiMethods.updateSettings, update)
      let after = try await context.readerA.unary(KpiMethods.getAccountEngagement, request)
      #expect(!after.accounts.isEmpty && after.accounts.allSatisfy { $0.tier != 1 && $0.score > 0 })
    }
  }

  /// A role multiplier of 0 cancels its contacts' minutes, in floating point: what is left (0 or
  /// some 1e-16) is no top event, and no spike's denominator (a spike of 10^16 was possible).
  @Test func minutesARoleMultiplierCancelsAreNoTopEventAndNoSpike() async throws {
    try await DataTestContext.with { context in
      let a = context.clientA
      _ = try await a.unary(AccountMethods.upsertAccount, Fixture.upsert(Fixture.account("acme")))
      _ = try await a.unary(
        AccountMethods.upsertContact, Fixture.upsert(Fixture.contact("dm", account: "acme", role: "decision_maker")))
      _ = try await a.unary(AccountMethods.upsertContact, Fixture.upsert(Fixture.contact("ch", account: "acme")))
      var update = Tally_V1_UpdateKpiSettingsRequest()
      update.settings.eventWeights = ["email_opened": 0.1]
      update.settings.roleMultipliers = ["decision_maker": 0]
      _ = try await a.unary(KpiMethods.updateSettings, update)
      var events: [Tally_V1_Event] = []
      for (day, count) in [("25", 1), ("26", 2), ("27", 3), ("28", 7)] {
        for index in 0..<count {
          var open = Fixture.event("open-\(day)-\(index)", at: "2026-02-\(day)T10:00:00Z")
          open.contactID = "dm"
          events.append(open)
        }
      }
      var visit = Fixture.event("visit", type: "web_visit", at: "2026-03-19T10:00:00Z")
      visit.contactID = "ch"
      events.append(visit)
      let batch = Tally_V1_RecordEventsRequest.with { $0.events = events }
      _ = try await a.clientStreaming(EventMethods.recordEvents) { try await $0.send(batch) }
      var request = Tally_V1_GetAccountEngagementRequest()
      request.asOf = "2026-03-20"
      let acme = try #require(try await context.readerA.unary(KpiMethods.getAccountEngagement, request).accounts.first)
      #expect(acme.topEvents.map(\.type) == ["web_visit"] && !acme.hasSpike, "\(acme)")
    }
  }

  @Test func journeyStagesConversionsAndCTAs() async throws {
    try await DataTestContext.with { context in
      let fixture = KpiFixture(count: 2_000, seed: 42)
      try await fixture.load(context.clientA)
      // As of 2025-12-01: a1 and a4 are customers; a2 and a3 have neither a customer date nor a live
      // opportunity yet, so their scores decide. Thresholds between their scores put one in each stage.
      let asOf = KpiFixture.day("2025-12-01")
      let defaults = try await context.clientA.unary(KpiMethods.getSettings, .init())
      let scores = Self.reference(
        fixture, asOf: asOf, halfLife: 30, weights: defaults.eventWeights, roleMultiplier: 1, tierMultipliers: [:])
      let (low, high) = (min(scores["a2"]!.score, scores["a3"]!.score), max(scores["a2"]!.score, scores["a3"]!.score))
      #expect(low < high)
      var update = Tally_V1_UpdateKpiSettingsRequest()
      update.settings.engagedThreshold = low
      update.settings.mqaThreshold = high
      _ = try await context.clientA.unary(KpiMethods.updateSettings, update)

      var request = Tally_V1_GetJourneyRequest()
      request.asOf = "2025-12-01"
      let journey = try await context.readerA.unary(KpiMethods.getJourney, request)
      #expect(journey.stages.map(\.stage) == ["unaware", "aware", "engaged", "mqa", "opportunity", "customer"])
      #expect(journey.stages.map(\.accounts) == [0, 0, 1, 1, 0, 2])
      #expect(journey.stages.map(\.reached) == [4, 4, 4, 3, 2, 2])
      #expect(journey.stages.map { $0.hasConversionToNext ? $0.conversionToNext : -1 } == [1, 1, 0.75, 2.0 / 3, 1, -1])
      #expect(journey.engagedThreshold == low && journey.mqaThreshold == high && journey.windowDays == 240)

      // The ranking shows each account's stage as the journey counts it.
      var ranking = Tally_V1_GetAccountEngagementRequest()
      ranking.asOf = "2025-12-01"
      let ranked = try await context.readerA.unary(KpiMethods.getAccountEngagement, ranking)
      for account in ranked.accounts {
        let score = try #require(scores[account.accountID]).score
        let stage = Self.stage(fixture, account.accountID, asOf: asOf, score: score, engaged: low, mqa: high)
        #expect(account.stage == stage, "\(account.accountID)")
      }
      #expect(Set(ranked.accounts.map(\.stage)) == ["engaged", "mqa", "customer"])

      // CTAs: views and conversions per asset in the 240 days before as_of.
      let window = fixture.events.filter { $0.day < asOf && $0.day >= asOf - 240 && $0.type.hasPrefix("cta_") }
      for cta in journey.ctas {
        let views = window.filter { $0.asset == cta.assetID && $0.type == "cta_view" }.count
        let conversions = window.filter { $0.asset == cta.assetID && $0.type == "cta_converted" }.count
        #expect(cta.views == UInt64(views) && cta.conversions == UInt64(conversions), "\(cta.assetID)")
        #expect(cta.hasRate == (views > 0))
      }
      #expect(Set(journey.ctas.map(\.assetID)) == Set(window.compactMap(\.asset)))
      // With a campaign filter, the campaign's events of the accounts the stages count: its
      // target list's (ad1: a4), not another account's views of its CTAs.
      var byCampaign = request
      byCampaign.filter.campaignIds = ["ad1"]
      let campaign = try await context.readerA.unary(KpiMethods.getJourney, byCampaign)
      let onList = Set(KpiFixture.campaignTargets["ad1"] ?? [])
      let listed = window.filter { $0.campaign == "ad1" && $0.account.map(onList.contains) == true }
      #expect(campaign.ctas.map(\.views).reduce(0, +) == UInt64(listed.filter { $0.type == "cta_view" }.count))
      #expect(
        window.contains { $0.campaign == "ad1" && $0.type == "cta_view" && $0.account.map(onList.contains) == false },
        "the fixture has views of ad1's CTAs by accounts off its list, which are left out")

      // Target accounts only: a3 (tier 0) leaves the journey; tenant B has none of it.
      request.targetsOnly = true
      let targets = try await context.readerA.unary(KpiMethods.getJourney, request)
      #expect(targets.stages.first?.reached == 3)
      let other = try await context.clientB.unary(KpiMethods.getJourney, request)
      #expect(other.stages.allSatisfy { $0.accounts == 0 } && other.ctas.isEmpty)
    }
  }
}
