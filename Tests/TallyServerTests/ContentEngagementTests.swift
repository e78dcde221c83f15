import Foundation
import TallyClient
import TallyProto
import TallyWire
import Testing

/// GetContentEngagement against per-asset sums over the fixture's events.
@Suite struct ContentEngagementTests {
  static let engagementTypes: Set<String> = [
    "email_opened", "email_clicked", "email_replied", "ad_click", "web_visit", "content_view", "content_download",
    "content_share", "form_submitted", "cta_converted", "event_registered", "event_attended", "social_engagement",
    "meeting_scheduled", "meeting_held",
  ]

  @Test func everyAssetMatchesTheFixture() async throws {
    try await DataTestContext.with { context in
      let fixture = KpiFixture(count: 1_500, seed: 7)
      try await fixture.load(context.clientA)
      var request = Tally_V1_GetContentEngagementRequest()
      request.from = "2026-01-01"
      request.to = "2026-04-01"
      let (from, to) = (KpiFixture.day(request.from), KpiFixture.day(request.to))
      var byTier = Tally_V1_KpiFilter()
      byTier.tiers = [1]
      for (filter, accounts) in [(Tally_V1_KpiFilter(), nil), (byTier, Set(["a1"]))]
        as [(Tally_V1_KpiFilter, Set<String>?)]
      {
        request.filter = filter
        let response = try await context.readerA.unary(KpiMethods.getContentEngagement, request)
        let events = fixture.events.filter {
          $0.day >= from && $0.day < to && $0.asset != nil && (accounts?.contains($0.account ?? "") ?? true)
        }
        let targets = Set(KpiFixture.tiers.filter { $0.value > 0 }.keys)
        #expect(Set(response.assets.map(\.assetID)) == Set(events.compactMap(\.asset)))
        #expect(response.assets.map(\.minutes) == response.assets.map(\.minutes).sorted(by: >))
        for asset in response.assets {
          let mine = events.filter { $0.asset == asset.assetID }
          let seconds = mine.filter { $0.type == "content_view" }.map(\.seconds).reduce(0, +)
          let engaged = Set(
            mine.filter { Self.engagementTypes.contains($0.type) && targets.contains($0.account ?? "") }
              .compactMap(\.account))
          #expect(asset.views == UInt64(mine.filter { $0.type == "content_view" }.count), "\(asset.assetID)")
          #expect(abs(asset.minutes - Double(seconds) / 60) < 1e-9, "\(asset.assetID)")
          #expect(asset.engagedTargetAccounts == UInt64(engaged.count), "\(asset.assetID)")
          #expect(asset.events == UInt64(mine.count) && asset.downloads == 0 && asset.shares == 0)
        }
        #expect(response.assets.contains { $0.views > 0 } && response.assets.contains { $0.engagedTargetAccounts > 0 })
      }
      request.filter = .init()
      request.limit = 1
      #expect(try await context.readerA.unary(KpiMethods.getContentEngagement, request).assets.count == 1)
      #expect(try await context.clientB.unary(KpiMethods.getContentEngagement, request).assets.isEmpty)
      request.limit = 5_000
      await expectViolation("limit") { try await context.readerA.unary(KpiMethods.getContentEngagement, request) }
      request.limit = 0
      request.to = "2025-01-01"
      await expectViolation("to") { try await context.readerA.unary(KpiMethods.getContentEngagement, request) }
    }
  }
}
