import Foundation
import SwiftProtobuf
import TallyClient
import TallyProto
import TallyWire
import Testing

/// GetInfluence against quartiles built in Swift from the fixture's deals and events.
@Suite struct InfluenceTests {
  /// The fixture plus eight tier-1 accounts whose engagement before their deal grows with their
  /// number, so the quartiles hold deals of every kind.
  static func fixture() -> KpiFixture {
    var fixture = KpiFixture(count: 1_500, seed: 11)
    let created = KpiFixture.day("2026-01-10")
    for index in 0..<8 {
      fixture.accountTiers["q\(index)"] = 1
      for event in 0..<(index * 2) {
        fixture.events.append(
          .init(
            key: "q\(index)-\(event)", day: created - 1 - event, second: 600, type: "content_download",
            account: "q\(index)", contact: nil, campaign: nil, seconds: 0))
      }
      fixture.opportunities.append(
        .init(
          id: "qo\(index)", account: "q\(index)", amount: Int64(1_000 * (index + 1)),
          status: index % 3 == 0 ? "lost" : "won", type: "new_business", created: created * 86_400 + 3_600,
          closed: (created + 80 - 9 * index) * 86_400))
    }
    return fixture
  }

  /// The quartiles of docs/KPIS.md for deals closed in [from, to) of the accounts `keep` holds.
  static func reference(
    _ fixture: KpiFixture, from: Int, to: Int, weights: [String: Double], keep: (String) -> Bool
  ) -> [(accounts: [String], won: Int, lost: Int, amount: Int64, days: Double)] {
    let deals = fixture.opportunities.filter {
      guard let closed = $0.closed, $0.status != "open" else { return false }
      return closed >= from * 86_400 && closed < to * 86_400 && keep($0.account)
    }
    var score: [String: Double] = [:]
    for account in Set(deals.map(\.account)) {
      let anchor = deals.filter { $0.account == account }.map { $0.created / 86_400 }.min()!
      score[account] =
        AccountEngagementTests.reference(
          fixture, asOf: anchor, halfLife: 30, weights: weights, roleMultiplier: 1, tierMultipliers: [:]
        )[account]?.score ?? 0
    }
    let ranked = score.keys.sorted { (score[$0]!, $1) > (score[$1]!, $0) }
    var start = 0
    return (0..<4).map { index in
      let size = ranked.count / 4 + (index < ranked.count % 4 ? 1 : 0)
      let members = Array(ranked[start..<start + size])
      start += size
      let closed = deals.filter { members.contains($0.account) }
      let won = closed.filter { $0.status == "won" }
      let days = won.map { Double($0.closed! - $0.created) / 86_400 }.reduce(0, +)
      return (members, won.count, closed.count - won.count, won.map(\.amount).reduce(0, +), days)
    }
  }

  @Test func quartilesMatchTheFixture() async throws {
    try await DataTestContext.with { context in
      let fixture = Self.fixture()
      try await fixture.load(context.clientA)
      let weights = try await context.clientA.unary(KpiMethods.getSettings, .init()).eventWeights
      var request = Tally_V1_GetInfluenceRequest()
      request.from = "2026-01-01"
      request.to = "2026-04-01"
      let (from, to) = (KpiFixture.day(request.from), KpiFixture.day(request.to))
      var byTier = Tally_V1_KpiFilter()
      byTier.tiers = [1]
      for (filter, keep) in [(Tally_V1_KpiFilter(), { (_: String) in true }), (byTier, { $0 != "a2" && $0 != "a4" })] {
        request.filter = filter
        let response = try await context.readerA.unary(KpiMethods.getInfluence, request)
        let expected = Self.reference(fixture, from: from, to: to, weights: weights, keep: keep)
        #expect(response.quartiles.map(\.quartile) == [1, 2, 3, 4] && response.windowDays == 240)
        #expect(response.currency == "EUR" && response.from == request.from && response.to == request.to)
        for (quartile, want) in zip(response.quartiles, expected) {
          let label = "quartile \(quartile.quartile): \(want.accounts)"
          #expect(quartile.accounts == UInt64(want.accounts.count), "\(label)")
          #expect(quartile.won == UInt64(want.won) && quartile.lost == UInt64(want.lost), "\(label)")
          #expect(quartile.wonAmount == want.amount, "\(label)")
          #expect(quartile.hasWinRate == (want.won + want.lost > 0), "\(label)")
          if want.won + want.lost > 0 { #expect(quartile.winRate == Double(want.won) / Double(want.won + want.lost)) }
          #expect(quartile.hasSalesCycleDays == (want.won > 0) && quartile.hasAverageDealSize == (want.won > 0))
          if want.won > 0 {
            #expect(abs(quartile.salesCycleDays - want.days / Double(want.won)) < 1e-9, "\(label)")
            #expect(quartile.averageDealSize == Double(want.amount) / Double(want.won), "\(label)")
          }
          #expect(quartile.maxScore >= quartile.minScore)
        }
        let top = expected[0]
        let bottom = expected[3]
        if top.won > 0, bottom.won > 0 {
          let (fast, slow) = (top.days / Double(top.won), bottom.days / Double(bottom.won))
          #expect(abs(response.topClosesFasterPercent - (slow - fast) / slow * 100) < 1e-9)
          #expect(response.summary.contains("\(Int(abs(response.topClosesFasterPercent).rounded())) %"))
        } else {
          #expect(!response.hasTopClosesFasterPercent && response.summary.hasPrefix("Not enough"))
        }
      }
      // The fixture's quartiles do compare: the most engaged accounts close sooner.
      request.filter = .init()
      let all = try await context.readerA.unary(KpiMethods.getInfluence, request)
      #expect(all.topClosesFasterPercent > 0 && all.summary.contains("faster"), "\(all.summary)")

      // Tenant B sees none of A's deals; a bad period names its field.
      let other = try await context.clientB.unary(KpiMethods.getInfluence, request)
      #expect(other.quartiles.allSatisfy { $0.accounts == 0 } && !other.hasTopClosesFasterPercent)
      request.to = "2025-12-01"
      await expectViolation("to") { try await context.readerA.unary(KpiMethods.getInfluence, request) }
      request.to = "2026-04-01"
      request.filter.accountIds = [""]
      await expectViolation("filter.account_ids[0]") {
        try await context.readerA.unary(KpiMethods.getInfluence, request)
      }
    }
  }

  /// Deals closed the microsecond they were created make the bottom quartile's sales cycle a
  /// hundred-millionth of a second: the comparison is some 10^16 %, which `Int(_:)` trapped on
  /// past 10^19 (the server stopped). Only a has an event before its deal; b, c and d tie at 0,
  /// ranked by id, d last. Without that event all four tie, and nothing is compared.
  @Test func aNearZeroSalesCycleDoesNotStopTheServer() async throws {
    try await DataTestContext.with { context in
      func deal(_ id: String, _ account: String, created: String, closed: String, nanos: Int32 = 0) async throws {
        var opportunity = Tally_V1_Opportunity()
        (opportunity.id, opportunity.accountID, opportunity.name, opportunity.amount) = (id, account, id, 100)
        (opportunity.status, opportunity.type) = ("won", "new_business")
        opportunity.createdAt = Fixture.time(created)
        opportunity.closedAt = Fixture.time(closed)
        opportunity.closedAt.nanos = nanos
        _ = try await context.clientA.unary(OpportunityMethods.upsertOpportunity, Fixture.upsert(opportunity))
      }
      for id in ["a", "b", "c", "d"] {
        var account = Tally_V1_Account()
        (account.id, account.name) = (id, id)
        _ = try await context.clientA.unary(AccountMethods.upsertAccount, Fixture.upsert(account))
      }
      try await deal("oa", "a", created: "2000-06-01T00:00:00Z", closed: "2199-06-01T00:00:00Z")
      try await deal("ob", "b", created: "2199-06-01T00:00:00Z", closed: "2199-06-02T00:00:00Z")
      try await deal("oc", "c", created: "2199-06-01T00:00:00Z", closed: "2199-06-02T00:00:00Z")
      for index in 0..<100 {
        let nanos: Int32 = index == 0 ? 1_000 : 0
        try await deal("od\(index)", "d", created: "2199-06-01T00:00:00Z", closed: "2199-06-01T00:00:00Z", nanos: nanos)
      }
      var request = Tally_V1_GetInfluenceRequest()
      (request.from, request.to) = ("2199-01-01", "2199-12-31")
      let tied = try await context.readerA.unary(KpiMethods.getInfluence, request)
      #expect(!tied.hasTopClosesFasterPercent && tied.summary.contains("score the same"), "\(tied.summary)")

      var event = Fixture.event("visit", type: "web_visit", at: "2000-05-30T10:00:00Z")
      event.accountID = "a"
      let events = Tally_V1_RecordEventsRequest.with { $0.events = [event] }
      _ = try await context.clientA.clientStreaming(EventMethods.recordEvents) { try await $0.send(events) }
      let response = try await context.readerA.unary(KpiMethods.getInfluence, request)
      #expect(response.topClosesFasterPercent < -1e16)
      #expect(
        response.summary.contains("slower") && response.summary.contains("(72683 days against 0)"),
        "\(response.summary)")
      let ping = try await context.readerA.unary(SystemMethods.ping, .init())
      #expect(ping.payload.isEmpty, "the server answers after it")
    }
  }
}
