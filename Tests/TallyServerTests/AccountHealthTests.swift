import Foundation
import SwiftProtobuf
import TallyClient
import TallyProto
import TallyWire
import Testing

@testable import TallyCore

/// GetAccountHealth against parts computed by hand from the fixture, its NPS answers and its
/// support questions.
@Suite struct AccountHealthTests {
  static func time(_ iso: String) -> Date { ISO8601DateFormatter().date(from: iso)! }

  /// a1: two support questions (one answered after 6 hours, one open 36 hours at as_of); a2: one
  /// older than the 90-day window.
  static func fixture() -> KpiFixture {
    var fixture = KpiFixture(count: 2_000, seed: 42)
    let support: [(String, String, String, Int)] = [
      ("s1", "a1", "support_question", 36_000), ("s2", "a1", "support_answered", 57_600),
      ("s3", "a1", "support_question", 43_200), ("s4", "a2", "support_question", 0),
    ]
    for (key, account, type, second) in support {
      let day = key == "s4" ? "2025-11-01" : key == "s3" ? "2026-03-18" : "2026-03-01"
      fixture.events.append(
        .init(
          key: key, day: KpiFixture.day(day), second: second, type: type, account: account, contact: nil,
          campaign: nil, seconds: 0))
    }
    return fixture
  }

  /// One NPS survey that keeps identities: c1 answers 3 then 8, c2 answers 9 (a1); c3 (a2) answers
  /// only after as_of.
  static func answerNPS(_ context: DataTestContext) async throws {
    try await Self.answerNPS(context, client: context.clientA, collector: context.collectorA)
  }

  /// The same answers in the tenant of `client` and `collector`.
  static func answerNPS(_ context: DataTestContext, client: TallyClient, collector: TallyClient) async throws {
    var create = SurveyFixture.survey("nps", title: "Customer NPS")
    create.survey.questions = [SurveyFixture.question("q", "nps", required: true)]
    let survey = try await client.unary(SurveyMethods.createSurvey, create)
    let answers: [(open: String, answers: [(String, Int32, String)])] = [
      ("2026-02-25", [("c1", 3, "2026-03-01"), ("c2", 9, "2026-03-01")]),
      ("2026-03-05", [("c1", 8, "2026-03-10"), ("c3", 2, "2026-03-25")]),
    ]
    for (open, round) in answers {
      context.clock.set(Self.time(open + "T09:00:00Z"))
      let opened = try await SurveyFixture.openRound(client, survey.id)
      let tokens = try await SurveyFixture.contactTokens(client, opened.id, round.map(\.0))
      for (contact, score, day) in round {
        context.clock.set(Self.time(day + "T12:00:00Z"))
        try await SurveyFixture.submit(collector, tokens[contact]!, [SurveyFixture.number("q", score)])
      }
      try await SurveyFixture.closeRound(client, opened.id)
    }
  }

  /// A question still open counts until now, not until tomorrow, GetAccountHealth's default as_of.
  @Test func anOpenQuestionCountsUntilNow() async throws {
    try await DataTestContext.with { context in
      var account = Fixture.account("cust")
      account.customerSince = Fixture.time("2025-01-01T00:00:00Z")
      _ = try await context.clientA.unary(AccountMethods.upsertAccount, Fixture.upsert(account))
      var question = Tally_V1_Event()
      (question.key, question.type, question.accountID) = ("q", "support_question", "cust")
      question.occurredAt = .init(date: Date().addingTimeInterval(-3_600))
      let events = Tally_V1_RecordEventsRequest.with { $0.events = [question] }
      _ = try await context.clientA.clientStreaming(EventMethods.recordEvents) { try await $0.send(events) }
      let health = try await context.readerA.unary(KpiMethods.getAccountHealth, .init())
      let open = try #require(health.accounts.first)
      #expect(open.supportOpen == 1 && open.supportOpenHours >= 1 && open.supportOpenHours < 1.1)
    }
  }

  /// Support read as a count of questions open when the window starts plus the window's events
  /// gives what pairing every event since the first does: answers before any question, ties at one
  /// instant, events at the window's first instant and after as_of, an account with nothing since.
  @Test func questionsOpenBeforeTheWindowCountAsPairingEveryEventDoes() async throws {
    try await DataTestContext.with { context in
      let asOf = KpiFixture.day("2026-03-20")
      let (asOfSeconds, since) = (Double(asOf) * 86_400, Double(asOf - AccountHealthScore.supportDays) * 86_400)
      var random = DemoRandom(7)
      var events: [Tally_V1_Event] = []
      var expected: [String: [(question: Bool, at: Double)]] = [:]
      // h1 answers more than it asks, h2 asks more, h3 evenly, h4 only before the window.
      for (account, questionPercent) in [("h1", 35), ("h2", 70), ("h3", 50), ("h4", 50)] {
        var customer = Fixture.account(account)
        customer.customerSince = Fixture.time("2024-01-01T00:00:00Z")
        _ = try await context.clientA.unary(AccountMethods.upsertAccount, Fixture.upsert(customer))
        let last = account == "h4" ? since : asOfSeconds + 5 * 86_400
        for index in 0..<120 {
          // Whole hours from 300 days before the window: several events share an instant.
          var at = since - 300 * 86_400 + Double(random.next(Int((last - since) / 3_600) + 300 * 24)) * 3_600
          if random.next(10) == 0, account != "h4" { at = since }
          let question = random.next(100) < questionPercent
          var event = Tally_V1_Event()
          (event.key, event.accountID) = ("\(account)-\(index)", account)
          event.type = question ? "support_question" : "support_answered"
          event.occurredAt = .init(date: Date(timeIntervalSince1970: at))
          events.append(event)
          if at < asOfSeconds { expected[account, default: []].append((question, at)) }
        }
      }
      // h5: ten answers before any question, then six questions, all before the window; in it one
      // question, whose answer is the seventh of the answers a day apart that follow: 168 hours.
      var h5 = Fixture.account("h5")
      h5.customerSince = Fixture.time("2024-01-01T00:00:00Z")
      _ = try await context.clientA.unary(AccountMethods.upsertAccount, Fixture.upsert(h5))
      let day = 86_400.0
      var steps: [(question: Bool, at: Double)] = []
      steps += (0..<10).map { (false, since - 200 * day + Double($0) * day) }
      steps += (0..<6).map { (true, since - 100 * day + Double($0) * day) }
      steps.append((true, since + day))
      steps += (0..<7).map { (false, since + 2 * day + Double($0) * day) }
      for (index, (question, at)) in steps.enumerated() {
        var event = Tally_V1_Event()
        (event.key, event.accountID) = ("h5-\(index)", "h5")
        event.type = question ? "support_question" : "support_answered"
        event.occurredAt = .init(date: Date(timeIntervalSince1970: at))
        events.append(event)
        expected["h5", default: []].append((question, at))
      }
      let request = Tally_V1_RecordEventsRequest.with { $0.events = events }
      _ = try await context.clientA.clientStreaming(EventMethods.recordEvents) { try await $0.send(request) }

      var health = Tally_V1_GetAccountHealthRequest()
      health.asOf = "2026-03-20"
      let accounts = try await context.readerA.unary(KpiMethods.getAccountHealth, health).accounts
      #expect(Set(accounts.map(\.accountID)) == ["h1", "h2", "h3", "h4", "h5"])
      for account in accounts {
        // Questions first at one instant, as the server orders them.
        let history = (expected[account.accountID] ?? []).sorted {
          ($0.at, $0.question ? 0 : 1) < ($1.at, $1.question ? 0 : 1)
        }
        var reference = Tally_V1_AccountHealth()
        AccountHealthScore.addSupport(history, since: since, openUntil: asOfSeconds, to: &reference)
        #expect(account.supportQuestions == reference.supportQuestions, "\(account.accountID)")
        #expect(account.supportOpen == reference.supportOpen, "\(account.accountID)")
        #expect(abs(account.supportOpenHours - reference.supportOpenHours) < 1e-9, "\(account.accountID)")
      }
      let h4 = try #require(accounts.first { $0.accountID == "h4" })
      #expect(h4.supportQuestions == 0 && h4.supportOpen == 0)
      let h5Health = try #require(accounts.first { $0.accountID == "h5" })
      #expect(h5Health.supportQuestions == 1 && h5Health.supportOpen == 0 && h5Health.supportOpenHours == 168)
    }
  }

  @Test func partsAndScoresMatchTheFixture() async throws {
    try await DataTestContext.with { context in
      let fixture = Self.fixture()
      try await fixture.load(context.clientA)
      try await Self.answerNPS(context)
      let weights = try await context.clientA.unary(KpiMethods.getSettings, .init()).eventWeights
      let asOf = KpiFixture.day("2026-03-20")
      let score = { (day: Int) in
        AccountEngagementTests.reference(
          fixture, asOf: day, halfLife: 30, weights: weights, roleMultiplier: 1, tierMultipliers: [:])
      }
      let (now, before) = (score(asOf), score(asOf - 30))

      var request = Tally_V1_GetAccountHealthRequest()
      request.asOf = "2026-03-20"
      let response = try await context.readerA.unary(KpiMethods.getAccountHealth, request)
      // a1 and a2 are customers on 2026-03-20; a4 churned on 2026-03-01.
      #expect(Set(response.accounts.map(\.accountID)) == ["a1", "a2"] && response.asOf == "2026-03-20")
      #expect(response.accounts.map(\.health) == response.accounts.map(\.health).sorted())
      for account in response.accounts {
        let id = account.accountID
        let (current, earlier) = (now[id]?.score ?? 0, before[id]?.score ?? 0)
        #expect(abs(account.engagementScore - current) < 1e-6 && abs(account.engagementScoreBefore - earlier) < 1e-6)
        let engagement = max(current, earlier) > 0 ? 50 + 50 * (current - earlier) / max(current, earlier) : 0
        #expect(account.parts.map(\.name) == ["nps", "engagement", "support"])
        #expect(abs(account.parts[1].score - engagement) < 1e-6, "\(id)")
        if id == "a1" {
          #expect(account.latestNps == 8.5 && account.npsContacts == 2 && account.parts[0].score == 85)
          #expect(account.supportQuestions == 2 && account.supportOpen == 1 && account.supportOpenHours == 21)
          let support: Double = 100 * (1 - 21.0 / 168)
          #expect(account.parts[2].score == support)
          let health: Double = (40 * 85 + 30 * engagement + 30 * support) / 100
          #expect(abs(account.health - health) < 1e-6)
        } else {
          // c3 answered after as_of; the old question lies outside the 90 days.
          #expect(!account.hasLatestNps && !account.parts[0].hasScore && account.supportQuestions == 0)
          let health: Double = (30 * engagement + 3_000) / 60
          #expect(account.parts[2].score == 100 && abs(account.health - health) < 1e-6)
        }
      }

      // A tier filter and a limit; tenant B sees none of A's customers; bad input names its field.
      request.filter.tiers = [2]
      #expect(try await context.readerA.unary(KpiMethods.getAccountHealth, request).accounts.map(\.accountID) == ["a2"])
      request.filter = .init()
      request.limit = 1
      let least = try await context.readerA.unary(KpiMethods.getAccountHealth, request)
      #expect(least.accounts.map(\.accountID) == [response.accounts[0].accountID])
      #expect(try await context.clientB.unary(KpiMethods.getAccountHealth, request).accounts.isEmpty)
      // A contact deleted since is left out: c1's answers of two rounds would read as two people.
      var delete = Tally_V1_DeleteContactRequest()
      delete.id = "c1"
      _ = try await context.clientA.unary(AccountMethods.deleteContact, delete)
      request.limit = 0
      let afterDelete = try await context.readerA.unary(KpiMethods.getAccountHealth, request)
      let a1 = try #require(afterDelete.accounts.first { $0.accountID == "a1" })
      #expect(a1.latestNps == 9 && a1.npsContacts == 1)
      request.asOf = "next week"
      await expectViolation("as_of") { try await context.readerA.unary(KpiMethods.getAccountHealth, request) }
      request.asOf = ""
      request.limit = 1_001
      await expectViolation("limit") { try await context.readerA.unary(KpiMethods.getAccountHealth, request) }
    }
  }
}
