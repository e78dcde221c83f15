import Foundation
import TallyClient
import TallyCore
import TallyProto
import TallyWire
import Testing

/// KPIs over a period not yet over (this month, this quarter) count its days so far where their
/// formula divides by days: the later days had nothing in them yet. And a share of the TAM counts
/// its numerator's accounts in its denominator.
@Suite struct KpiPeriodSoFarTests {
  /// `days` after today (UTC), as YYYY-MM-DD.
  static func day(_ days: Int) -> String {
    CivilDay(dayNumber: CivilDay(Date()).dayNumber + days).description
  }

  static func request(_ name: String, from: Int, to: Int) -> Tally_V1_GetKpisRequest {
    var request = Tally_V1_GetKpisRequest()
    request.names = [name]
    (request.from, request.to) = (Self.day(from), Self.day(to))
    return request
  }

  /// A rep making ten dials every working day keeps ten a day in a period not yet over: divided
  /// by the period's every working day, the dashboard showed a fall to a fraction of that.
  @Test func activitiesPerRepPerDayCountTheWorkingDaysSoFar() async throws {
    try await DataTestContext.with { context in
      let today = CivilDay(Date()).dayNumber
      // Day 0, 1970-01-01, was a Thursday: (day + 3) % 7 counts from Monday.
      let workingDays = (today - 10...today).filter { ($0 + 3) % 7 < 5 }
      let events = workingDays.flatMap { day in
        (0..<10).map { index in
          var event = Fixture.event(
            "dial-\(day)-\(index)", type: "call_dialed", at: "\(CivilDay(dayNumber: day))T00:00:00Z")
          event.repID = "rep-1"
          return event
        }
      }
      _ = try await context.clientA.record(events)
      let kpi = try await context.readerA.unary(
        KpiMethods.getKpis, Self.request("activities_per_rep_per_day", from: -10, to: 20)
      ).kpis[0]
      #expect(kpi.current.numerator == Double(events.count))
      #expect(kpi.current.denominator == Double(workingDays.count), "\(kpi.current)")
      #expect(kpi.current.value == 10)
      var reps = Tally_V1_GetRepActivityRequest()
      (reps.from, reps.to) = (Self.day(-10), Self.day(20))
      let answer = try await context.readerA.unary(KpiMethods.getRepActivity, reps)
      #expect(answer.workingDays == UInt32(workingDays.count))
      #expect(answer.reps.map(\.activitiesPerDay) == [10])
    }
  }

  /// A 12,000 deal of customer-1, won yesterday: CLV's ACV.
  static func winADealYesterday(_ client: TallyClient) async throws {
    var deal = Tally_V1_Opportunity()
    (deal.id, deal.accountID, deal.name, deal.amount) = ("won", "customer-1", "Renewal", 12_000)
    (deal.status, deal.type, deal.stage) = ("won", "new_business", "Closed")
    deal.createdAt = Fixture.time("2026-01-05T00:00:00Z")
    deal.closedAt = Fixture.time("\(Self.day(-1))T00:00:00Z")
    _ = try await client.unary(OpportunityMethods.upsertOpportunity, Fixture.upsert(deal))
  }

  /// Churn in a period not yet over has happened over its days so far: a year of it read from a
  /// month's first days made the lifetime, and so CLV, several times too long.
  @Test func clvAnnualisesTheChurnOfTheDaysSoFar() async throws {
    try await DataTestContext.with { context in
      for index in 0..<10 {
        var account = Fixture.account("customer-\(index)")
        account.customerSince = Fixture.time("2020-01-01T00:00:00Z")
        if index == 0 { account.churnedAt = Fixture.time("\(Self.day(-2))T00:00:00Z") }
        _ = try await context.clientA.unary(AccountMethods.upsertAccount, Fixture.upsert(account))
      }
      try await Self.winADealYesterday(context.clientA)
      let kpi = try await context.readerA.unary(KpiMethods.getKpis, Self.request("clv", from: -5, to: 25)).kpis[0]
      // Ten customers at the start, one churned in the six days begun: a lifetime of 10 × 6 / 365 years.
      let lifetime = 10.0 * 6 / 365
      #expect(kpi.current.denominator == 1)
      #expect(abs(kpi.current.numerator - 12_000 * lifetime) < 0.01, "\(kpi.current)")
    }
  }

  /// A churn dated after today (a cancellation entered for the contract's end) has not happened in
  /// a period not yet over: counted, it cut retention and NRR, and CLV's lifetime to the days so far.
  @Test func aChurnDatedAfterTodayHasNotHappenedYet() async throws {
    try await DataTestContext.with { context in
      for index in 0..<4 {
        var account = Fixture.account("customer-\(index)")
        account.customerSince = Fixture.time("2020-01-01T00:00:00Z")
        account.arr = 1_000
        if index == 0 { account.churnedAt = Fixture.time("\(Self.day(3))T00:00:00Z") }
        _ = try await context.clientA.unary(AccountMethods.upsertAccount, Fixture.upsert(account))
      }
      try await Self.winADealYesterday(context.clientA)
      var request = Self.request("logo_retention_rate", from: -5, to: 25)
      request.names += ["net_revenue_retention", "clv"]
      let kpis = try await context.readerA.unary(KpiMethods.getKpis, request).kpis
      #expect(kpis[0].current.numerator == 4 && kpis[0].current.denominator == 4, "\(kpis[0].current)")
      #expect(kpis[1].current.numerator == 4_000 && kpis[1].current.denominator == 4_000, "\(kpis[1].current)")
      // Nobody churned so far: the 10-year lifetime.
      #expect(kpis[2].current.numerator == 12_000 * 10, "\(kpis[2].current)")
    }
  }

  /// A target of the period since made neither a target nor on the ideal-customer list still counts
  /// on both sides of the share: counted above the line only, the share passed 100 %.
  @Test func influencedAccountsShareCountsThePeriodsTargetsInTheTAM() async throws {
    try await DataTestContext.with { context in
      _ = try await context.clientA.unary(CampaignMethods.upsertCampaign, Fixture.upsert(Fixture.campaign("c1")))
      var touches: [Tally_V1_Event] = []
      for id in ["a", "b"] {
        _ = try await context.clientA.unary(AccountMethods.upsertAccount, Fixture.upsert(Fixture.account(id)))
        var deal = Tally_V1_Opportunity()
        (deal.id, deal.accountID, deal.name, deal.amount) = ("deal-\(id)", id, "Deal", 1_000)
        (deal.status, deal.type, deal.stage) = ("open", "new_business", "Proposal")
        deal.createdAt = Fixture.time("2026-11-10T00:00:00Z")
        _ = try await context.clientA.unary(OpportunityMethods.upsertOpportunity, Fixture.upsert(deal))
        var touch = Fixture.event("touch-\(id)", type: "email_clicked", at: "2026-11-05T10:00:00Z")
        (touch.accountID, touch.campaignID) = (id, "c1")
        touches.append(touch)
      }
      _ = try await context.clientA.record(touches)
      // "a" leaves the target list and the ideal-customer list after November.
      _ = try await context.clientA.unary(AccountMethods.upsertAccount, Fixture.upsert(Fixture.account("a", tier: 0)))
      var request = Self.request("influenced_accounts_share", from: 0, to: 1)
      (request.from, request.to) = ("2026-11-01", "2026-12-01")
      let kpi = try await context.readerA.unary(KpiMethods.getKpis, request).kpis[0]
      #expect(kpi.current.numerator == 2 && kpi.current.denominator == 2, "\(kpi.current)")
    }
  }

  /// A period, or a trend bucket, that begins after today has no data: read with today's
  /// customers and targets, retention showed 100 % and engagement 0 % for months to come, and a
  /// count showed 0 opportunities of days that have not happened.
  @Test func periodsThatHaveNotBegunHaveNoData() async throws {
    try await DataTestContext.with { context in
      for index in 0..<4 {
        var account = Fixture.account("customer-\(index)")
        account.customerSince = Fixture.time("2020-01-01T00:00:00Z")
        _ = try await context.clientA.unary(AccountMethods.upsertAccount, Fixture.upsert(account))
      }
      var request = Self.request("logo_retention_rate", from: -30, to: 60)
      request.names.append("opportunities_created")
      request.bucket = "day"
      let kpis = try await context.readerA.unary(KpiMethods.getKpis, request).kpis
      let today = CivilDay(Date()).description
      for kpi in kpis {
        #expect(kpi.hasCurrent && kpi.current.hasValue && kpi.previous.hasValue, "\(kpi.name)")
        let begun = kpi.trend.filter { $0.from <= today }
        let toCome = kpi.trend.filter { $0.from > today }
        #expect(begun.count == 31 && toCome.count == 59, "\(kpi.name)")
        #expect(begun.allSatisfy(\.hasValue) && !toCome.contains(where: \.hasValue), "\(kpi.name)")
        #expect(toCome.allSatisfy { $0.numerator == 0 && !$0.hasDenominator }, "\(kpi.name)")
      }
      #expect(kpis.first?.trend.first?.value == 1, "every customer kept, on a day that has been")
      // A period wholly to come: no value, and so no change against the one before it.
      let ahead = try await context.readerA.unary(
        KpiMethods.getKpis, Self.request("logo_retention_rate", from: 5, to: 35))
      #expect(!ahead.kpis[0].current.hasValue && ahead.kpis[0].previous.hasValue && !ahead.kpis[0].hasChange)
    }
  }
}
