import Foundation
import SwiftProtobuf
import TallyClient
import TallyProto
import TallyStore
import TallyWire
import Testing

@testable import TallyCore

/// GetKpis against values computed in Swift from the fixture's rows, the rollups against the raw
/// events, validation, settings, and tenant isolation.
@Suite struct KpiServiceTests {
  static let quarter = (from: "2026-01-01", to: "2026-04-01")

  static func request(
    _ names: [String] = KpiCatalog.all.map(\.name), bucket: String = "month", filter: Tally_V1_KpiFilter = .init()
  ) -> Tally_V1_GetKpisRequest {
    var request = Tally_V1_GetKpisRequest()
    request.names = names
    request.from = Self.quarter.from
    request.to = Self.quarter.to
    request.bucket = bucket
    request.filter = filter
    return request
  }

  /// Compares one answered point with the reference's measure over the same days.
  static func expect(
    _ point: Tally_V1_KpiPoint, _ reference: KpiReference, _ name: String, _ label: String,
    sourceLocation: SourceLocation = #_sourceLocation
  ) {
    let from = KpiFixture.day(point.from)
    let to = KpiFixture.day(point.to)
    guard let expected = reference.measure(name, from, to) else {
      Issue.record("no reference for \(name)", sourceLocation: sourceLocation)
      return
    }
    let context = "\(name) \(label) \(point.from)..<\(point.to)"
    #expect(abs(point.numerator - expected.numerator) < 1e-6, "\(context)", sourceLocation: sourceLocation)
    #expect(point.hasDenominator == (expected.denominator != nil), "\(context)", sourceLocation: sourceLocation)
    if let denominator = expected.denominator {
      // Exact for counts; mean days (pipeline velocity) may differ in the last bit.
      #expect(
        abs(point.denominator - denominator) <= 1e-12 * max(1, denominator), "\(context)",
        sourceLocation: sourceLocation)
      // A zero denominator is no data: no value, never 0 or NaN.
      #expect(point.hasValue == (denominator != 0), "\(context)", sourceLocation: sourceLocation)
      if denominator != 0 {
        #expect(
          abs(point.value - expected.numerator / denominator) < 1e-9 * max(1, abs(point.value)), "\(context)",
          sourceLocation: sourceLocation)
      }
    } else {
      #expect(
        point.hasValue && abs(point.value - expected.numerator) < 1e-6, "\(context)", sourceLocation: sourceLocation)
    }
  }

  @Test func everyKpiMatchesTheFixtureComputedByHand() async throws {
    try await DataTestContext.with { context in
      var fixture = KpiFixture(count: 1_500, seed: 7)
      fixture.addIdleTarget()
      try await fixture.load(context.clientA)
      var byCampaign = Tally_V1_KpiFilter()
      byCampaign.campaignIds = ["e1"]
      var byChannel = Tally_V1_KpiFilter()
      byChannel.channels = ["ads"]
      var byTier = Tally_V1_KpiFilter()
      byTier.tiers = [1, 3]
      var byAccount = Tally_V1_KpiFilter()
      byAccount.accountIds = ["a1", "a3"]
      let filters: [(Tally_V1_KpiFilter, KpiReference.Filter)] = [
        (.init(), .init()), (byCampaign, .init(campaigns: ["e1"])), (byChannel, .init(channels: ["ads"])),
        (byTier, .init(tiers: [1, 3])), (byAccount, .init(accounts: ["a1", "a3"])),
      ]
      let weights = try await context.clientA.unary(KpiMethods.getSettings, .init()).eventWeights
      for (message, filter) in filters {
        let reference = KpiReference(fixture: fixture, filter: filter, weights: weights)
        let names = KpiCatalog.all.map(\.name).filter {
          let formula = KpiCatalog.byName[$0]!.formula
          // The fixture holds no surveys: their KPIs have a test of their own.
          guard case .surveyScore = formula else {
            return (!filter.filtersAccounts || formula.acceptsAccountFilters)
              && (filter.campaigns == nil && filter.channels == nil || formula.acceptsCampaignFilters)
          }
          return false
        }
        let response = try await context.readerA.unary(
          KpiMethods.getKpis, Self.request(names, filter: message))
        #expect(response.kpis.map(\.name) == names)
        #expect(response.previousFrom == "2025-10-03" && response.previousTo == "2026-01-01")
        #expect(response.currency == "EUR")
        if filter.campaigns == nil, filter.channels == nil, !filter.filtersAccounts {
          // The fixture exercises every KPI: a test of zeros against zeros would prove little.
          let empty = response.kpis.filter { $0.current.numerator == 0 }.map(\.name)
          #expect(empty.isEmpty, "\(empty)")
        }
        for kpi in response.kpis {
          Self.expect(kpi.current, reference, kpi.name, "current")
          Self.expect(kpi.previous, reference, kpi.name, "previous")
          #expect(kpi.trend.map(\.from) == ["2026-01-01", "2026-02-01", "2026-03-01"], "\(kpi.name)")
          for point in kpi.trend { Self.expect(point, reference, kpi.name, "bucket") }
          if kpi.current.hasValue, kpi.previous.hasValue {
            #expect(abs(kpi.change - (kpi.current.value - kpi.previous.value)) < 1e-9)
          } else {
            #expect(!kpi.hasChange && !kpi.hasRelativeChange)
          }
        }
      }
    }
  }

  /// Quarter buckets across a year boundary against the reference, and the same answers whatever the
  /// database session's time zone: every day is a UTC day.
  @Test func quarterBucketsAndTimeZones() async throws {
    try await DataTestContext.with { context in
      var fixture = KpiFixture(count: 1_500, seed: 77)
      // Around the UTC midnight that starts 2026: a rep's task, a form fill and a deal, so that a
      // day taken in the session's time zone would move them to the other bucket.
      let newYear = KpiFixture.day("2026-01-01")
      fixture.events += [
        .init(
          key: "k900001", day: newYear - 1, second: 84_600, type: "task_completed", account: "a1", contact: "c1",
          campaign: "e1", seconds: 0),
        .init(
          key: "k900002", day: newYear, second: 1_800, type: "form_submitted", account: "a1", contact: "c1",
          campaign: "e1", seconds: 0),
      ]
      fixture.opportunities.append(
        .init(
          id: "o7", account: "a1", amount: 1_000, status: "won", type: "new_business",
          created: newYear * 86_400 - 7_200,
          closed: newYear * 86_400 + 3_600))
      try await fixture.load(context.clientA)
      let weights = try await context.clientA.unary(KpiMethods.getSettings, .init()).eventWeights
      let period = KpiPeriods.Period(from: CivilDay(isoDate: "2025-11-01")!, to: CivilDay(isoDate: "2026-04-01")!)
      let periods = KpiPeriods(period, bucket: .quarter)
      #expect(periods.buckets.map(\.from.description) == ["2025-11-01", "2026-01-01"])
      var answers: [String: [String: [KpiMeasure]]] = [:]
      for zone in ["UTC", "Pacific/Kiritimati", "America/Los_Angeles"] {
        answers[zone] = try await context.pool.withTransaction(tenant: context.tenantA) { connection in
          try connection.execute("SET LOCAL TimeZone = '\(zone)'")
          var measures: [String: [KpiMeasure]] = [:]
          for kpi in KpiCatalog.all {
            measures[kpi.name] = try KpiEngine.measure(kpi, periods.all, KpiFilterSpec(), source: .rollups, connection)
          }
          return measures
        }
      }
      #expect(answers["Pacific/Kiritimati"] == answers["UTC"], "UTC+14 sees the same days")
      #expect(answers["America/Los_Angeles"] == answers["UTC"], "UTC−8 sees the same days")
      let reference = KpiReference(fixture: fixture, filter: .init(), weights: weights)
      for (name, measures) in answers["UTC"] ?? [:] {
        for (bucket, measure) in zip(periods.buckets, measures.dropFirst(2)) {
          guard let expected = reference.measure(name, bucket.from.dayNumber, bucket.to.dayNumber) else { continue }
          let label = "\(name) \(bucket.from)..\(bucket.to)"
          #expect(abs(measure.numerator - expected.numerator) < 1e-6 * max(1, abs(expected.numerator)), "\(label)")
          #expect((measure.denominator == nil) == (expected.denominator == nil), "\(label)")
          if let denominator = measure.denominator, let want = expected.denominator {
            #expect(abs(denominator - want) <= 1e-9 * max(1, want), "\(label)")
          }
        }
      }
    }
  }

  @Test func rollupsAndRawEventsGiveIdenticalAnswers() async throws {
    try await DataTestContext.with { context in
      var fixture = KpiFixture(count: 4_000, seed: 1_234_567)
      fixture.addIdleTarget()
      try await fixture.load(context.clientA)
      let period = KpiPeriods.Period(from: CivilDay(isoDate: "2025-11-15")!, to: CivilDay(isoDate: "2026-03-20")!)
      let periods = KpiPeriods(period, bucket: .week)
      #expect(periods.buckets.count == 19 && periods.buckets.first?.from.description == "2025-11-15")
      var filters = [KpiFilterSpec()]
      var campaign = KpiFilterSpec()
      campaign.campaignIDs = ["e1", "gone"]
      var channel = KpiFilterSpec()
      channel.channels = ["email"]
      var tiers = KpiFilterSpec()
      tiers.tiers = [0, 2]
      var accounts = KpiFilterSpec()
      accounts.accountIDs = ["a1", "zz"]
      filters += [campaign, channel, tiers, accounts]
      let tenant = context.tenantA
      for filter in filters {
        for kpi in KpiCatalog.all where filter.applies(to: kpi.formula) {
          let (rollups, raw) = try await context.pool.withTransaction(tenant: tenant) { connection in
            (
              try KpiEngine.measure(kpi, periods.all, filter, source: .rollups, connection),
              try KpiEngine.measure(kpi, periods.all, filter, source: .rawEvents, connection)
            )
          }
          #expect(rollups == raw, "\(kpi.name) \(filter)")
          #expect(rollups.count == periods.all.count)
        }
      }
    }
  }

  @Test func surveyScoresPoolTheRoundsOfThePeriod() async throws {
    try await DataTestContext.with { context in
      let answer = { (round: String, scores: [Int32]) in
        for (token, score) in zip(try await SurveyFixture.tokens(context.clientA, round, UInt32(scores.count)), scores)
        {
          try await SurveyFixture.submit(context.collectorA, token, [SurveyFixture.number("score", score)])
        }
      }
      let nps = try await context.clientA.unary(SurveyMethods.createSurvey, SurveyFixture.survey("nps"))
      let first = try await SurveyFixture.openRound(context.clientA, nps.id)
      try await answer(first.id, [10, 9, 3])
      try await SurveyFixture.closeRound(context.clientA, first.id)
      // An identified round counts while it is open.
      try await answer(try await SurveyFixture.openRound(context.clientA, nps.id).id, [10])
      let enps = try await context.clientA.unary(SurveyMethods.createSurvey, SurveyFixture.survey("enps"))
      for (scores, close) in [([10, 10, 9, 7, 2, 0], true), ([10, 10, 10], true), ([0, 0, 0, 0, 0, 0], false)] {
        let round = try await SurveyFixture.openRound(context.clientA, enps.id)
        try await answer(round.id, scores.map(Int32.init))
        if close { try await SurveyFixture.closeRound(context.clientA, round.id) }
      }
      let today = CivilDay(Date())
      var request = Self.request(["nps", "enps"], bucket: "")
      (request.from, request.to) = (today.description, CivilDay(dayNumber: today.dayNumber + 1).description)
      let response = try await context.readerA.unary(KpiMethods.getKpis, request)
      // NPS: 3 promoters, 1 detractor of 4. eNPS: only the closed round at the threshold (3 − 2 of 6);
      // the closed round of three and the open round of six are left out.
      #expect(response.kpis[0].current.numerator == 200 && response.kpis[0].current.denominator == 4)
      #expect(response.kpis[0].current.value == 50 && !response.kpis[0].previous.hasValue)
      #expect(response.kpis[1].current.numerator == 100 && response.kpis[1].current.denominator == 6)
      request.filter.tiers = [1]
      await expectViolation("filter") { try await context.readerA.unary(KpiMethods.getKpis, request) }
    }
  }

  /// An identified survey with a threshold: the KPI leaves out the rounds GetResults suppresses.
  @Test func surveyScoresKeepAnIdentifiedSurveysThreshold() async throws {
    try await DataTestContext.with { context in
      var create = SurveyFixture.survey("nps")
      create.survey.anonymityThreshold = 5
      let nps = try await context.clientA.unary(SurveyMethods.createSurvey, create)
      let round = try await SurveyFixture.openRound(context.clientA, nps.id)
      for token in try await SurveyFixture.tokens(context.clientA, round.id, 2) {
        try await SurveyFixture.submit(context.collectorA, token, [SurveyFixture.number("score", 10)])
      }
      let results = try await SurveyFixture.results(context.readerA, nps.id)
      #expect(results.overall.suppressed)
      let today = CivilDay(Date())
      var request = Self.request(["nps"], bucket: "")
      (request.from, request.to) = (today.description, CivilDay(dayNumber: today.dayNumber + 1).description)
      let kpi = try #require(try await context.readerA.unary(KpiMethods.getKpis, request).kpis.first)
      #expect(!kpi.current.hasValue && kpi.current.numerator == 0, "two answers under a threshold of 5")
      // Without answers, a cell has no score and no margin (not a margin of 0, which means certainty).
      let quiet = try await context.clientA.unary(SurveyMethods.createSurvey, SurveyFixture.survey("nps"))
      _ = try await SurveyFixture.tokens(
        context.clientA, try await SurveyFixture.openRound(context.clientA, quiet.id).id, 3)
      let empty = try await SurveyFixture.results(context.readerA, quiet.id).overall
      #expect(!empty.suppressed && empty.invitations == 3 && !empty.hasScore && !empty.hasMarginOfError)
    }
  }

  /// SURVEYS.md: a change between two periods says whether it exceeds the combined margin.
  @Test func surveyScoreChangesAreWeighedAgainstTheirMargin() async throws {
    try await DataTestContext.with { context in
      let nps = try await context.clientA.unary(SurveyMethods.createSurvey, SurveyFixture.survey("nps"))
      for (scores, daysAgo) in [([0, 0, 0, 0, 0, 0, 0, 0, 10, 10], 1), ([10, 10, 10, 10, 10, 10, 10, 10, 0, 0], 0)] {
        let round = try await SurveyFixture.openRound(context.clientA, nps.id)
        for (token, score) in zip(try await SurveyFixture.tokens(context.clientA, round.id, 10), scores) {
          try await SurveyFixture.submit(context.collectorA, token, [SurveyFixture.number("score", Int32(score))])
        }
        try await SurveyFixture.closeRound(context.clientA, round.id)
        try await context.pool.withTransaction(tenant: context.tenantA) { connection in
          try connection.query(
            "UPDATE survey_rounds SET opens_at = opens_at - make_interval(days => $2::int) WHERE round_id::text = $1",
            [round.id, Int32(daysAgo)])
        }
      }
      let today = CivilDay(Date())
      var request = Self.request(["nps"], bucket: "")
      (request.from, request.to) = (today.description, CivilDay(dayNumber: today.dayNumber + 1).description)
      let kpi = try #require(try await context.readerA.unary(KpiMethods.getKpis, request).kpis.first)
      // −60 then +60, each of ten answers: a margin of 100 × 1.96 × √((1 − 0.6²) / 10) ≈ 49.6 points.
      let margin = 100 * 1.96 * ((1 - 0.36) / 10.0).squareRoot()
      #expect(kpi.previous.value == -60 && kpi.current.value == 60)
      #expect(abs(kpi.current.marginOfError - margin) < 1e-9 && abs(kpi.previous.marginOfError - margin) < 1e-9)
      #expect(abs(kpi.combinedMargin - margin * 2.0.squareRoot()) < 1e-9)
      #expect(kpi.change == 120 && kpi.changeBeyondMargin)
      // A KPI without a margin carries none.
      request.names = ["win_rate"]
      let winRate = try #require(try await context.readerA.unary(KpiMethods.getKpis, request).kpis.first)
      #expect(!winRate.current.hasMarginOfError && !winRate.hasCombinedMargin && !winRate.hasChangeBeyondMargin)
    }
  }

  /// KPIS.md: expansion revenue comes "from existing customers"; an account that was none when
  /// its expansion deal closed adds nothing.
  @Test func expansionRevenueCountsExistingCustomersOnly() async throws {
    try await DataTestContext.with { context in
      let accounts: [(String, String?, String?)] = [
        ("old", "2025-01-01T00:00:00Z", nil), ("fresh", nil, nil), ("later", "2026-03-01T00:00:00Z", nil),
        ("gone", "2025-01-01T00:00:00Z", "2026-01-15T00:00:00Z"),
      ]
      for (id, since, churned) in accounts {
        var account = Fixture.account(id, tier: 1)
        if let since { account.customerSince = Fixture.time(since) }
        if let churned { account.churnedAt = Fixture.time(churned) }
        _ = try await context.clientA.unary(AccountMethods.upsertAccount, Fixture.upsert(account))
        var deal = Tally_V1_Opportunity()
        (deal.id, deal.accountID, deal.name, deal.amount) = ("x-\(id)", id, "Expansion \(id)", 1_000)
        (deal.status, deal.type, deal.stage) = ("won", "expansion", "Closed")
        deal.createdAt = Fixture.time("2026-01-05T00:00:00Z")
        deal.closedAt = Fixture.time("2026-02-10T00:00:00Z")
        _ = try await context.clientA.unary(OpportunityMethods.upsertOpportunity, Fixture.upsert(deal))
      }
      let response = try await context.readerA.unary(
        KpiMethods.getKpis, Self.request(["expansion_revenue"], bucket: ""))
      // Only "old" was a customer on 2026-02-10: "later" became one after, "gone" had churned before.
      #expect(response.kpis.first?.current.value == 1_000)
    }
  }

  @Test func netRevenueRetentionReadsTheARRHistory() async throws {
    try await DataTestContext.with { context in
      var account = Fixture.account("grower", tier: 1)
      account.customerSince = Fixture.time("2025-01-01T00:00:00Z")
      account.arr = 1_000
      _ = try await context.clientA.unary(AccountMethods.upsertAccount, Fixture.upsert(account))
      // ARR 1,000 from December, 1,500 from mid-February (history as a CRM sync would have left it).
      try await context.pool.withTransaction(tenant: context.tenantA) { connection in
        for (day, arr) in [("2025-12-01", 1_000), ("2026-02-15", 1_500)] {
          try connection.query(
            """
            INSERT INTO account_history (tenant_id, account_id, changed_at, tier, in_icp, customer_since, arr)
            VALUES (current_setting('tally.tenant_id')::uuid, 'grower', $1::date, 1, false, '2025-01-01', $2::bigint)
            """, [day, Int64(arr)])
        }
      }
      let response = try await context.readerA.unary(
        KpiMethods.getKpis, Self.request(["net_revenue_retention", "logo_retention_rate"]))
      #expect(response.kpis[0].current.numerator == 1_500 && response.kpis[0].current.denominator == 1_000)
      #expect(response.kpis[0].trend.map(\.value) == [1, 1.5, 1])
      #expect(response.kpis[1].current.value == 1 && response.kpis[1].previous.value == 1)
    }
  }

  /// An upsert without `arr` leaves a history row whose ARR is unknown, not 0: the last known ARR
  /// holds (it read as 0, a churn of the whole ARR), and before any is known, the first known.
  @Test func netRevenueRetentionSkipsUnknownARR() async throws {
    try await DataTestContext.with { context in
      for id in ["steady", "late"] {
        var account = Fixture.account(id, tier: 1)
        account.customerSince = Fixture.time("2025-01-01T00:00:00Z")
        _ = try await context.clientA.unary(AccountMethods.upsertAccount, Fixture.upsert(account))
      }
      // steady: 100,000 from December, then a sync without ARR in February; late: no ARR until
      // 50,000 in February.
      try await context.pool.withTransaction(tenant: context.tenantA) { connection in
        for (id, day, arr) in [
          ("steady", "2025-12-01", Int64?(100_000)), ("steady", "2026-02-10", nil), ("late", "2025-12-01", nil),
          ("late", "2026-02-10", 50_000),
        ] {
          try connection.query(
            """
            INSERT INTO account_history (tenant_id, account_id, changed_at, tier, in_icp, customer_since, arr)
            VALUES (current_setting('tally.tenant_id')::uuid, $1, $2::date, 1, false, '2025-01-01', $3::bigint)
            """, [id, day, arr])
        }
      }
      let response = try await context.readerA.unary(
        KpiMethods.getKpis, Self.request(["net_revenue_retention"], bucket: ""))
      let current = response.kpis[0].current
      #expect(current.numerator == 150_000 && current.denominator == 150_000, "\(current)")
    }
  }

  @Test func badRequestsNameTheirField() async throws {
    try await DataTestContext.with { context in
      let reader = context.readerA
      await expectViolation("names[1]") {
        try await reader.unary(KpiMethods.getKpis, Self.request(["win_rate", "wins"]))
      }
      var request = Self.request(["win_rate"])
      request.from = "2026-02-30"
      await expectViolation("from") { try await reader.unary(KpiMethods.getKpis, request) }
      request.from = "2026-04-01"
      await expectViolation("to") { try await reader.unary(KpiMethods.getKpis, request) }
      request.from = "2020-01-01"
      await expectViolation("to") { try await reader.unary(KpiMethods.getKpis, request) }
      request = Self.request(["win_rate"], bucket: "fortnight")
      await expectViolation("bucket") { try await reader.unary(KpiMethods.getKpis, request) }
      var filter = Tally_V1_KpiFilter()
      filter.tiers = [4]
      await expectViolation("filter.tiers[0]") {
        try await reader.unary(KpiMethods.getKpis, Self.request(filter: filter))
      }
      filter = Tally_V1_KpiFilter()
      filter.channels = ["fax"]
      await expectViolation("filter.channels[0]") {
        try await reader.unary(KpiMethods.getKpis, Self.request(filter: filter))
      }
      filter = Tally_V1_KpiFilter()
      filter.accountIds = ["a1"]
      await expectViolation("filter") {
        try await reader.unary(KpiMethods.getKpis, Self.request(["cac"], filter: filter))
      }
      request = Self.request([])
      request.dashboard = "ceo"
      await expectViolation("dashboard") { try await reader.unary(KpiMethods.getKpis, request) }
      var family = Tally_V1_ListKpisRequest()
      family.family = "vanity"
      await expectViolation("family") { try await reader.unary(KpiMethods.listKpis, family) }

      // The default dashboard: the headline KPIs, without data all counts 0 and all ratios absent.
      request = Self.request([], bucket: "")
      let dashboard = try await reader.unary(KpiMethods.getKpis, request)
      #expect(dashboard.kpis.map(\.name) == KpiCatalog.all.filter(\.headline).map(\.name))
      #expect(dashboard.kpis.allSatisfy { $0.trend.isEmpty && $0.current.numerator == 0 })
      #expect(dashboard.kpis.filter { $0.unit == "ratio" }.allSatisfy { !$0.current.hasValue && !$0.hasChange })
      #expect(dashboard.leftOut.isEmpty)
      // A filtered dashboard answers the KPIs that take the filter and lists the others.
      request.filter.accountIds = ["a1"]
      let byAccount = try await reader.unary(KpiMethods.getKpis, request)
      #expect(!byAccount.leftOut.isEmpty)
      #expect(Set(byAccount.kpis.map(\.name) + byAccount.leftOut.map(\.name)) == Set(dashboard.kpis.map(\.name)))
      #expect(
        byAccount.kpis.map(\.name)
          == dashboard.kpis.map(\.name).filter { name in
            !byAccount.leftOut.contains { $0.name == name }
          })
      let accountReasons = Dictionary(uniqueKeysWithValues: byAccount.leftOut.map { ($0.name, $0.reason) })
      #expect(accountReasons["cac"]?.contains("costs are not per account") == true)
      #expect(accountReasons["nps"]?.contains("survey answers") == true)
      request.filter = Tally_V1_KpiFilter()
      request.filter.campaignIds = ["spring"]
      let byCampaign = try await reader.unary(KpiMethods.getKpis, request)
      #expect(byCampaign.leftOut.map(\.name) == ["nps", "enps"])
      #expect(byCampaign.kpis.contains { $0.name == "cac" })
      let catalogue = try await reader.unary(KpiMethods.listKpis, .init())
      #expect(catalogue.kpis.count == KpiCatalog.all.count && catalogue.kpis.contains { !$0.headline })
    }
  }

  @Test func settingsRoundTripValidateAndStayPerTenant() async throws {
    try await DataTestContext.with { context in
      let defaults = try await context.clientA.unary(KpiMethods.getSettings, .init())
      #expect(defaults.decayHalfLifeDays == 30 && defaults.influenceLookbackDays == 90 && defaults.mqaThreshold == 100)
      #expect(defaults.eventWeights["event_attended"] == 30 && defaults.eventWeights["ad_impression"] == 0)
      #expect(defaults.eventWeights["web_visit"] == 1 && defaults.grossMarginPercent == 100 && !defaults.hasUpdatedAt)
      #expect(defaults.currency == "EUR" && defaults.tierMultipliers["2"] == 1 && defaults.minContacts == 3)

      var update = Tally_V1_UpdateKpiSettingsRequest()
      update.settings.eventWeights = ["web_visit": 3]
      update.settings.decayHalfLifeDays = 14
      update.settings.grossMarginPercent = 80
      let stored = try await context.clientA.unary(KpiMethods.updateSettings, update)
      #expect(stored.eventWeights["web_visit"] == 3 && stored.eventWeights["event_attended"] == 30)
      #expect(stored.decayHalfLifeDays == 14 && stored.grossMarginPercent == 80 && stored.hasUpdatedAt)
      #expect(try await context.readerA.unary(KpiMethods.getSettings, .init()) == stored)

      var bad = Tally_V1_UpdateKpiSettingsRequest()
      bad.settings.eventWeights = ["web_visit": -1]
      await expectViolation("settings.event_weights[web_visit]") {
        try await context.clientA.unary(KpiMethods.updateSettings, bad)
      }
      bad = Tally_V1_UpdateKpiSettingsRequest()
      bad.settings.roleMultipliers = ["ceo": 2]
      await expectViolation("settings.role_multipliers[ceo]") {
        try await context.clientA.unary(KpiMethods.updateSettings, bad)
      }
      bad = Tally_V1_UpdateKpiSettingsRequest()
      bad.settings.decayHalfLifeDays = 400
      await expectViolation("settings.decay_half_life_days") {
        try await context.clientA.unary(KpiMethods.updateSettings, bad)
      }
      // "Engaged" lies below MQA (100 by default): the field set is the one named.
      bad = Tally_V1_UpdateKpiSettingsRequest()
      bad.settings.engagedThreshold = 200
      await expectViolation("settings.engaged_threshold") {
        try await context.clientA.unary(KpiMethods.updateSettings, bad)
      }
      bad.settings = .init()
      bad.settings.mqaThreshold = 5
      await expectViolation("settings.mqa_threshold") {
        try await context.clientA.unary(KpiMethods.updateSettings, bad)
      }
      _ = await expectStatus(.permissionDenied) { try await context.readerA.unary(KpiMethods.updateSettings, update) }
      #expect(
        try await context.readerA.unary(KpiMethods.getSettings, .init()) == stored, "a refused update changes nothing")

      // Tenant B still has every default, and its update leaves A's settings alone.
      #expect(try await context.clientB.unary(KpiMethods.getSettings, .init()) == defaults)
      update.settings.decayHalfLifeDays = 60
      update.settings.mqaThreshold = 150
      _ = try await context.clientB.unary(KpiMethods.updateSettings, update)
      #expect(try await context.readerA.unary(KpiMethods.getSettings, .init()) == stored)
      // Every effective value sent back with one change, as `tally kpi settings --set` does: only
      // what differs from the defaults is stored, so the others still follow the defaults.
      var everything = Tally_V1_UpdateKpiSettingsRequest()
      everything.settings = stored
      everything.settings.mqaThreshold = 250
      _ = try await context.clientA.unary(KpiMethods.updateSettings, everything)
      let expected = """
        {"decay_half_life_days": 14, "event_weights": {"web_visit": 3}, "gross_margin_percent": 80,
         "mqa_threshold": 250, "role_multipliers": {}, "tier_multipliers": {}}
        """
      let (same, kept) = try await context.pool.withTransaction(tenant: context.tenantA) { connection in
        let row = try connection.query(
          "SELECT settings = $1::jsonb AS same, settings::text AS s FROM kpi_settings", [expected]
        ).rows[0]
        return (try row.require(Bool.self, "same"), try row.require(String.self, "s"))
      }
      #expect(same, "\(kept)")
    }
  }

  /// A's answer after B loads data is A's answer from before, point for point: B's rows reach no value,
  /// numerator or denominator of A's (a leak into a denominator alone shows too).
  @Test func tenantBsDataNeverReachesTenantAsKpis() async throws {
    try await DataTestContext.with { context in
      let empty = try await context.readerA.unary(KpiMethods.getKpis, Self.request())
      let points = empty.kpis.flatMap { [$0.current, $0.previous] + $0.trend }
      #expect(points.count == KpiCatalog.all.count * 5)
      // What no data looks like: nothing counted, no denominator above 0, no value but 0.
      #expect(points.allSatisfy { $0.numerator == 0 && $0.denominator == 0 && $0.value == 0 })
      let fixture = KpiFixture(count: 300, seed: 99)
      try await fixture.load(context.clientB)
      let seenByA = try await context.readerA.unary(KpiMethods.getKpis, Self.request())
      #expect(seenByA.kpis.map(\.name) == empty.kpis.map(\.name))
      for (after, before) in zip(seenByA.kpis, empty.kpis) {
        #expect(after == before, "\(after.name)")
      }
      #expect(seenByA == empty)
      // The same data in A gives A numbers: the zeros above are isolation, not a broken query.
      try await fixture.load(context.clientA)
      let own = try await context.readerA.unary(KpiMethods.getKpis, Self.request())
      let seenByB = try await context.clientB.unary(KpiMethods.getKpis, Self.request())
      #expect(own.kpis != seenByA.kpis && own.kpis == seenByB.kpis)
    }
  }
}

@Suite struct KpiCatalogTests {
  @Test func namesAreUniqueAndEveryFormulaHasSQL() {
    #expect(Set(KpiCatalog.all.map(\.name)).count == KpiCatalog.all.count)
    for kpi in KpiCatalog.all {
      let shared = KpiEngine.passes.contains { $0.answers(kpi.formula) }
      let sql = kpi.formula.sql(KpiSQL(source: .rollups))
      #expect(sql?.contains("periods") ?? (shared || kpi.name == "marketing_qualified_accounts"), "\(kpi.name)")
      #expect(!shared || sql == nil, "\(kpi.name) has a query of its own and a shared pass")
    }
  }
}
