import Foundation
import TallyClient
import TallyProto
import TallyWire
import Testing

@testable import TallyCore

/// The attribution models and the whole-unit split, on hand-made touches.
@Suite struct AttributionModelTests {
  static let touches: [AttributionModel.Touch] = [
    .init(campaign: "a", age: 10, count: 2), .init(campaign: "b", age: 10, count: 1),
    .init(campaign: "c", age: 0, count: 5), .init(campaign: "a", age: 3, count: 1),
  ]

  @Test func eachModelWeighsTheTouchesItsOwnWay() {
    #expect(AttributionModel.firstTouch.weights(Self.touches) == ["a": 2, "b": 1])
    #expect(AttributionModel.lastTouch.weights(Self.touches) == ["c": 5])
    #expect(AttributionModel.linear.weights(Self.touches) == ["a": 3, "b": 1, "c": 5])
    let decay = AttributionModel.timeDecay.weights(Self.touches)
    #expect(abs(decay["a"]! - (2 * pow(0.5, 10.0 / 7) + pow(0.5, 3.0 / 7))) < 1e-12)
    #expect(abs(decay["b"]! - pow(0.5, 10.0 / 7)) < 1e-12 && decay["c"] == 5)
    #expect(AttributionModel.linear.weights([]).isEmpty)
  }

  @Test func creditsAreWholeUnitsThatAddUpToTheAmount() {
    #expect(AttributionModel.split(100, ["a": 1, "b": 1, "c": 1]) == ["a": 34, "b": 33, "c": 33])
    #expect(AttributionModel.split(10, ["x": 2, "y": 1]) == ["x": 7, "y": 3])
    #expect(AttributionModel.split(0, ["x": 1]).isEmpty && AttributionModel.split(5, [:]).isEmpty)
    var random = DemoRandom(3)
    for _ in 0..<500 {
      let amount = Int64(random.next(1_000_000_000)) * Int64(random.next(9_000) + 1)
      let weights = Dictionary(
        uniqueKeysWithValues: (0..<(random.next(7) + 1)).map {
          (ExactID("c\($0)"), Double(random.next(1_000) + 1) / 7)
        })
      let credits = AttributionModel.split(amount, weights)
      #expect(credits.values.reduce(0, +) == amount && credits.values.allSatisfy { $0 >= 0 })
      let total = weights.values.reduce(0, +)
      for (campaign, credit) in credits {
        #expect(abs(Double(credit) - Double(amount) * weights[campaign]! / total) <= 1.001 + Double(amount) * 1e-15)
      }
    }
  }
}

/// GetAttribution against credits computed in Swift from the fixture's deals and events.
@Suite struct AttributionTests {
  /// Engagement events, as docs/KPIS.md lists them: the touches that can precede a deal.
  static let touchTypes: Set<String> = [
    "email_opened", "email_clicked", "email_replied", "ad_click", "web_visit", "content_view", "content_download",
    "content_share", "form_submitted", "cta_converted", "event_registered", "event_attended", "social_engagement",
    "meeting_scheduled", "meeting_held",
  ]

  struct Expected {
    var campaigns: [String: Tally_V1_CampaignAttribution] = [:]
    var won: Int64 = 0
    var attributed: Int64 = 0
    var pipeline: Int64 = 0
    var attributedPipeline: Int64 = 0
  }

  static func reference(
    _ fixture: KpiFixture, model: String, lookback: Int, accounts: Set<String>? = nil
  ) -> Expected {
    let (from, to) = (KpiFixture.day("2026-01-01") * 86_400, KpiFixture.day("2026-04-01") * 86_400)
    var expected = Expected()
    for deal in fixture.opportunities where accounts?.contains(deal.account) ?? true {
      let won = deal.status == "won" && deal.closed! >= from && deal.closed! < to
      let created = deal.created >= from && deal.created < to
      guard won || created else { continue }
      let day = deal.created / 86_400
      let touches = fixture.events.filter {
        $0.account == deal.account && $0.campaign != nil && Self.touchTypes.contains($0.type) && $0.day <= day
          && $0.day >= day - lookback
      }
      var weights: [ExactID: Double] = [:]
      let ages = touches.map { day - $0.day }
      for (touch, age) in zip(touches, ages) {
        let campaign = ExactID(touch.campaign!)
        switch model {
        case "first_touch": if age == ages.max() { weights[campaign, default: 0] += 1 }
        case "last_touch": if age == ages.min() { weights[campaign, default: 0] += 1 }
        case "time_decay": weights[campaign, default: 0] += pow(0.5, Double(age) / 7)
        default: weights[campaign, default: 0] += 1
        }
      }
      let credits = AttributionModel.split(deal.amount, weights)
      let credited = credits.values.reduce(0, +)
      if won { (expected.won, expected.attributed) = (expected.won + deal.amount, expected.attributed + credited) }
      if created {
        (expected.pipeline, expected.attributedPipeline) = (
          expected.pipeline + deal.amount, expected.attributedPipeline + credited
        )
      }
      for touch in touches { expected.campaigns[touch.campaign!, default: .init()].touches += 1 }
      for campaign in Set(touches.map { $0.campaign! }) {
        expected.campaigns[campaign, default: .init()].dealsWon += won ? 1 : 0
        expected.campaigns[campaign, default: .init()].opportunities += created ? 1 : 0
        let credit = credits[ExactID(campaign)] ?? 0
        expected.campaigns[campaign, default: .init()].attributedRevenue += won ? credit : 0
        expected.campaigns[campaign, default: .init()].attributedPipeline += created ? credit : 0
      }
    }
    return expected
  }

  static func expect(
    _ response: Tally_V1_GetAttributionResponse, _ expected: Expected, costs: [String: Int64]?,
    sourceLocation: SourceLocation = #_sourceLocation
  ) {
    let label = "\(response.model)"
    #expect(response.wonRevenue == expected.won, "\(label)", sourceLocation: sourceLocation)
    #expect(response.attributedRevenue == expected.attributed, "\(label)", sourceLocation: sourceLocation)
    #expect(response.pipelineCreated == expected.pipeline, "\(label)", sourceLocation: sourceLocation)
    #expect(response.attributedPipeline == expected.attributedPipeline, "\(label)", sourceLocation: sourceLocation)
    for campaign in response.campaigns {
      let want = expected.campaigns[campaign.campaignID] ?? .init()
      let context = "\(label) \(campaign.campaignID)"
      #expect(campaign.touches == want.touches, "\(context)", sourceLocation: sourceLocation)
      #expect(campaign.dealsWon == want.dealsWon, "\(context)", sourceLocation: sourceLocation)
      #expect(campaign.opportunities == want.opportunities, "\(context)", sourceLocation: sourceLocation)
      #expect(campaign.attributedRevenue == want.attributedRevenue, "\(context)", sourceLocation: sourceLocation)
      #expect(campaign.attributedPipeline == want.attributedPipeline, "\(context)", sourceLocation: sourceLocation)
      let cost = costs?[campaign.campaignID] ?? 0
      #expect(campaign.cost == cost && campaign.hasRoi == (cost > 0), "\(context)", sourceLocation: sourceLocation)
      if cost > 0 {
        #expect(campaign.roi == Double(want.attributedRevenue - cost) / Double(cost), sourceLocation: sourceLocation)
      }
    }
  }

  @Test func everyModelMatchesTheFixture() async throws {
    try await DataTestContext.with { context in
      let fixture = KpiFixture(count: 1_500, seed: 7)
      try await fixture.load(context.clientA)
      var request = Tally_V1_GetAttributionRequest()
      request.from = "2026-01-01"
      request.to = "2026-04-01"
      // The quarter's costs but onboarding: e1 media 9,000, ad1 content 4,000, people 2,500 without a campaign.
      let costs: [String: Int64] = ["e1": 9_000, "ad1": 4_000]
      for model in ["first_touch", "last_touch", "linear", "time_decay"] {
        request.model = model
        let response = try await context.readerA.unary(KpiMethods.getAttribution, request)
        let expected = Self.reference(fixture, model: model, lookback: 90)
        #expect(response.model == model && response.lookbackDays == 90 && response.currency == "EUR")
        #expect(Set(response.campaigns.map(\.campaignID)) == Set(expected.campaigns.keys).union(costs.keys))
        Self.expect(response, expected, costs: costs)
        #expect(response.cost == 15_500 && response.roi == Double(expected.attributed - 15_500) / 15_500)
        #expect(response.attributedRevenue > 0 && response.attributedRevenue <= response.wonRevenue)
        #expect(response.campaigns.first { $0.campaignID == "e1" }?.channel == "email")
        #expect(response.campaigns.first { $0.campaignID == "gone" }?.name == "", "events name it; no campaign row")
      }
      // A channel keeps its campaigns' rows; their credit and the totals are those of every campaign.
      request.model = "time_decay"
      request.filter.channels = ["ads"]
      let ads = try await context.readerA.unary(KpiMethods.getAttribution, request)
      #expect(ads.campaigns.map(\.campaignID) == ["ad1"])
      Self.expect(ads, Self.reference(fixture, model: "time_decay", lookback: 90), costs: costs)
      // Accounts keep their deals and leave costs out.
      request.filter = .init()
      request.filter.accountIds = ["a1", "a2"]
      let byAccount = try await context.readerA.unary(KpiMethods.getAttribution, request)
      Self.expect(
        byAccount, Self.reference(fixture, model: "time_decay", lookback: 90, accounts: ["a1", "a2"]), costs: nil)
      #expect(byAccount.cost == 0 && !byAccount.hasRoi)
      // A shorter look-back finds fewer touches.
      var update = Tally_V1_UpdateKpiSettingsRequest()
      update.settings.influenceLookbackDays = 20
      _ = try await context.clientA.unary(KpiMethods.updateSettings, update)
      request.filter = .init()
      request.model = ""
      let short = try await context.readerA.unary(KpiMethods.getAttribution, request)
      #expect(short.model == "linear" && short.lookbackDays == 20)
      Self.expect(short, Self.reference(fixture, model: "linear", lookback: 20), costs: costs)

      // Tenant B sees nothing of A's; bad input names its field.
      let other = try await context.clientB.unary(KpiMethods.getAttribution, request)
      #expect(other.campaigns.isEmpty && other.wonRevenue == 0 && other.cost == 0 && !other.hasRoi)
      request.model = "u_shaped"
      await expectViolation("model") { try await context.readerA.unary(KpiMethods.getAttribution, request) }
      request.model = "linear"
      request.from = "2026-13-01"
      await expectViolation("from") { try await context.readerA.unary(KpiMethods.getAttribution, request) }
    }
  }
}
