import Foundation
import SwiftProtobuf
import TallyClient
import TallyCore
import TallyProto
import TallyStore
import TallyWire
import Testing

/// A customer who left and came back keeps its first tenure (migration 0023): past periods'
/// retention, churn, journey and expansion revenue do not change when the account is won back.
@Suite struct CustomerTenureTests {
  /// Each account's writes in order: (customer_since, churned_at, ARR).
  static let writes: [(id: String, states: [(since: String?, churned: String?, arr: Int64?)])] = [
    ("steady", [("2025-01-01", nil, 1_000)]),
    // Churned in January, won back in March.
    ("returner", [("2025-01-01", "2026-01-20", 500), ("2026-03-01", nil, 500)]),
    // A correction of the start, and a churn undone: no past tenure.
    ("fixed", [("2025-06-01", nil, nil), ("2025-02-01", nil, nil)]),
    ("undone", [("2025-01-01", "2026-02-01", nil), ("2025-01-01", nil, nil)]),
    // Won back at the instant of the churn: one tenure throughout.
    ("backdated", [("2025-01-01", "2026-02-01", nil), ("2026-02-01", nil, nil)]),
    // Two win-backs.
    ("twice", [("2024-01-01", "2024-06-01", nil), ("2024-09-01", "2025-03-01", nil), ("2025-06-01", nil, nil)]),
  ]

  static func load(_ client: TallyClient) async throws {
    for (id, states) in Self.writes {
      for state in states {
        var account = Fixture.account(id, tier: 1)
        if let since = state.since { account.customerSince = Fixture.time("\(since)T00:00:00Z") }
        if let churned = state.churned { account.churnedAt = Fixture.time("\(churned)T00:00:00Z") }
        if let arr = state.arr { account.arr = arr }
        _ = try await client.unary(AccountMethods.upsertAccount, Fixture.upsert(account))
      }
    }
  }

  static func tenure(_ since: String, _ churned: String) -> Tally_V1_CustomerTenure {
    var tenure = Tally_V1_CustomerTenure()
    (tenure.since, tenure.churnedAt) = (Fixture.time("\(since)T00:00:00Z"), Fixture.time("\(churned)T00:00:00Z"))
    return tenure
  }

  @Test func aWinBackKeepsThePastTenureAndOnlyAWinBackDoes() async throws {
    try await DataTestContext.with { context in
      try await Self.load(context.clientA)
      let expected: [String: [Tally_V1_CustomerTenure]] = [
        "steady": [], "fixed": [], "undone": [],
        "returner": [Self.tenure("2025-01-01", "2026-01-20")],
        "backdated": [Self.tenure("2025-01-01", "2026-02-01")],
        "twice": [Self.tenure("2024-01-01", "2024-06-01"), Self.tenure("2024-09-01", "2025-03-01")],
      ]
      for (id, tenures) in expected {
        var get = Tally_V1_GetAccountRequest()
        get.id = id
        let account = try await context.readerA.unary(AccountMethods.getAccount, get)
        #expect(account.pastTenures == tenures, "\(id)")
      }
      // A client's write neither sets nor clears them; a name change keeps them.
      var rename = Fixture.account("returner", tier: 1, name: "Returner Ltd")
      rename.customerSince = Fixture.time("2026-03-01T00:00:00Z")
      rename.pastTenures = [Self.tenure("2020-01-01", "2021-01-01")]
      let renamed = try await context.clientA.unary(AccountMethods.upsertAccount, Fixture.upsert(rename))
      #expect(renamed.pastTenures == expected["returner"])
      var fresh = Fixture.account("fresh", tier: 1)
      fresh.pastTenures = [Self.tenure("2020-01-01", "2021-01-01")]
      #expect(try await context.clientA.unary(AccountMethods.upsertAccount, Fixture.upsert(fresh)).pastTenures.isEmpty)
      // Tenant B's account of the same id has none of A's tenures.
      _ = try await context.clientB.unary(AccountMethods.upsertAccount, Fixture.upsert(Fixture.account("returner")))
      var get = Tally_V1_GetAccountRequest()
      get.id = "returner"
      #expect(try await context.clientB.unary(AccountMethods.getAccount, get).pastTenures.isEmpty)
    }
  }

  /// A tenure kept from a write that only looked like a win-back (a mistyped year) is corrected by
  /// replacing the list; a bad list names its field and changes nothing.
  @Test func replacePastTenuresCorrectsThemAndChecksThem() async throws {
    try await DataTestContext.with { context in
      var account = Fixture.account("typo", tier: 1)
      (account.customerSince, account.churnedAt) = (
        Fixture.time("2024-01-01T00:00:00Z"), Fixture.time("2024-03-01T00:00:00Z")
      )
      _ = try await context.clientA.unary(AccountMethods.upsertAccount, Fixture.upsert(account))
      (account.customerSince, account.churnedAt) = (
        Fixture.time("2025-01-01T00:00:00Z"), Fixture.time("2025-03-01T00:00:00Z")
      )
      let kept = try await context.clientA.unary(AccountMethods.upsertAccount, Fixture.upsert(account))
      #expect(kept.pastTenures == [Self.tenure("2024-01-01", "2024-03-01")])

      var request = Fixture.upsert(account)
      request.replacePastTenures = true
      let bad: [(String, [Tally_V1_CustomerTenure])] = [
        ("account.past_tenures[0].churned_at", [Self.tenure("2023-05-01", "2023-05-01")]),
        (
          "account.past_tenures[1].since",
          [Self.tenure("2022-01-01", "2022-06-01"), Self.tenure("2022-05-01", "2022-09-01")]
        ),
        ("account.past_tenures[0].churned_at", [Self.tenure("2024-06-01", "2025-02-01")]),
        (
          "account.past_tenures[0].since",
          [Tally_V1_CustomerTenure.with { $0.churnedAt = Fixture.time("2022-01-01T00:00:00Z") }]
        ),
        ("account.past_tenures", Array(repeating: Self.tenure("2022-01-01", "2022-02-01"), count: 101)),
      ]
      for (field, tenures) in bad {
        request.account.pastTenures = tenures
        await expectViolation(field) { try await context.clientA.unary(AccountMethods.upsertAccount, request) }
      }
      // 100 empty tenures miss 200 times: the first 100 listed, all counted (it said "100 in all").
      request.account.pastTenures = Array(repeating: Tally_V1_CustomerTenure(), count: 100)
      let counted = await expectStatus(.invalidArgument) {
        try await context.clientA.unary(AccountMethods.upsertAccount, request)
      }
      #expect(counted?.fieldViolations.count == 100 && counted?.message.contains("(200 in all") == true)
      var get = Tally_V1_GetAccountRequest()
      get.id = "typo"
      #expect(try await context.readerA.unary(AccountMethods.getAccount, get).pastTenures == kept.pastTenures)

      // The history as it was, then none at all.
      request.account.pastTenures = [Self.tenure("2022-01-01", "2022-06-01"), Self.tenure("2023-01-01", "2023-02-01")]
      #expect(
        try await context.clientA.unary(AccountMethods.upsertAccount, request).pastTenures
          == request.account.pastTenures)
      request.account.pastTenures = []
      #expect(try await context.clientA.unary(AccountMethods.upsertAccount, request).pastTenures.isEmpty)
      // A new account may bring its history; without the flag it is ignored.
      var fresh = Fixture.upsert(Fixture.account("returning", tier: 1))
      fresh.account.customerSince = Fixture.time("2026-01-01T00:00:00Z")
      fresh.account.pastTenures = [Self.tenure("2020-01-01", "2021-01-01")]
      fresh.replacePastTenures = true
      #expect(
        try await context.clientA.unary(AccountMethods.upsertAccount, fresh).pastTenures == fresh.account.pastTenures)
      fresh.replacePastTenures = false
      fresh.account.pastTenures = []
      #expect(
        try await context.clientA.unary(AccountMethods.upsertAccount, fresh).pastTenures
          == [Self.tenure("2020-01-01", "2021-01-01")])
    }
  }

  @Test func pastPeriodsCountTheFirstTenure() async throws {
    try await DataTestContext.with { context in
      try await Self.load(context.clientA)
      // An expansion deal closed in the returner's first tenure comes from an existing customer.
      var deal = Tally_V1_Opportunity()
      (deal.id, deal.accountID, deal.name, deal.amount) = ("x", "returner", "Expansion", 700)
      (deal.status, deal.type, deal.stage) = ("won", "expansion", "Closed")
      deal.createdAt = Fixture.time("2026-01-05T00:00:00Z")
      deal.closedAt = Fixture.time("2026-01-10T00:00:00Z")
      _ = try await context.clientA.unary(OpportunityMethods.upsertOpportunity, Fixture.upsert(deal))

      let response = try await context.readerA.unary(
        KpiMethods.getKpis,
        KpiServiceTests.request(["logo_retention_rate", "net_revenue_retention", "expansion_revenue"], bucket: ""))
      // Q1 2026: six customers at the start (the returner in its first tenure, "twice" in its
      // third); all but the returner, who churned in January, through the end.
      let retention = response.kpis[0]
      #expect(retention.current.numerator == 5 && retention.current.denominator == 6, "\(retention.current)")
      #expect(retention.previous.numerator == 6 && retention.previous.denominator == 6, "\(retention.previous)")
      // ARR is known for the steady account and the returner; the returner's is lost in Q1.
      let revenue = response.kpis[1]
      #expect(revenue.current.numerator == 1_000 && revenue.current.denominator == 1_500, "\(revenue.current)")
      #expect(response.kpis[2].current.value == 700)

      // On 2025-05-01 every account but "twice" (between its tenures) is a customer.
      var journey = Tally_V1_GetJourneyRequest()
      journey.asOf = "2025-05-01"
      let stages = try await context.readerA.unary(KpiMethods.getJourney, journey).stages
      #expect(stages.last?.stage == "customer" && stages.last?.accounts == 5, "\(stages)")
      journey.asOf = "2024-03-01"
      let earlier = try await context.readerA.unary(KpiMethods.getJourney, journey).stages
      #expect(earlier.last?.accounts == 1, "\(earlier)")
    }
  }
}
