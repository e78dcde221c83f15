import Foundation
import SwiftProtobuf
import TallyClient
import TallyProto
import TallyWire
import Testing

/// Ids that Swift's `==` equates but PostgreSQL tells apart ("ñ" as one code point, and "n" +
/// U+0303): every answer that gathers rows by id in Swift keeps them two. One such pair of
/// accounts with events once stopped the server (a dictionary built with unique keys).
@Suite struct LookAlikeIDTests {
  static let ids = ["se\u{f1}or", "sen\u{303}or"]

  @Test func lookAlikeAccountsAreScoredAndCountedAsTwo() async throws {
    try await DataTestContext.with { context in
      let client = context.clientA
      _ = try await client.unary(CampaignMethods.upsertCampaign, Fixture.upsert(Fixture.campaign("spring")))
      for (index, id) in Self.ids.enumerated() {
        var account = Fixture.account(id)
        account.customerSince = Fixture.time("2025-01-01T00:00:00Z")
        _ = try await client.unary(AccountMethods.upsertAccount, Fixture.upsert(account))
        var opportunity = Tally_V1_Opportunity()
        opportunity.id = "deal-" + id  // two opportunity ids that look alike too
        opportunity.accountID = id
        opportunity.amount = 1_000 * Int64(index + 1)
        opportunity.name = "Deal \(index)"
        opportunity.type = "new_business"
        opportunity.status = "won"
        opportunity.createdAt = Fixture.time("2026-03-10T00:00:00Z")
        opportunity.closedAt = Fixture.time("2026-03-20T00:00:00Z")
        _ = try await client.unary(OpportunityMethods.upsertOpportunity, Fixture.upsert(opportunity))
      }
      _ = try await client.clientStreaming(EventMethods.recordEvents) { writer in
        var request = Tally_V1_RecordEventsRequest()
        request.events = Self.ids.map { id in
          var event = Fixture.event("touch-" + id, type: "email_clicked", at: "2026-03-05T10:00:00Z")
          event.accountID = id
          event.campaignID = "spring"
          return event
        }
        try await writer.send(request)
      }

      var engagement = Tally_V1_GetAccountEngagementRequest()
      engagement.asOf = "2026-04-01"
      let ranked = try await context.readerA.unary(KpiMethods.getAccountEngagement, engagement)
      #expect(Set(ranked.accounts.map { Array($0.accountID.utf8) }) == Set(Self.ids.map { Array($0.utf8) }))
      var journey = Tally_V1_GetJourneyRequest()
      journey.asOf = "2026-04-01"
      let stages = try await context.readerA.unary(KpiMethods.getJourney, journey)
      #expect(stages.stages.first?.reached == 2, "\(stages.stages)")
      #expect(stages.stages.first { $0.stage == "customer" }?.accounts == 2, "\(stages.stages)")
      var influence = Tally_V1_GetInfluenceRequest()
      (influence.from, influence.to) = ("2026-01-01", "2026-04-01")
      let quartiles = try await context.readerA.unary(KpiMethods.getInfluence, influence).quartiles
      #expect(quartiles.map(\.accounts).reduce(0, +) == 2 && quartiles.map(\.won).reduce(0, +) == 2)
      var health = Tally_V1_GetAccountHealthRequest()
      health.asOf = "2026-04-01"
      let scored = try await context.readerA.unary(KpiMethods.getAccountHealth, health).accounts
      #expect(scored.count == 2 && scored.allSatisfy { $0.engagementScore > 0 })
      var attribution = Tally_V1_GetAttributionRequest()
      (attribution.from, attribution.to) = ("2026-01-01", "2026-04-01")
      let credited = try await context.readerA.unary(KpiMethods.getAttribution, attribution)
      #expect(credited.wonRevenue == 3_000 && credited.attributedRevenue == 3_000)
    }
  }

  /// An account's NPS counts each contact's latest answer: two contacts whose ids look alike are
  /// two people, each with an answer.
  @Test func lookAlikeContactsAnswerAsTwoPeople() async throws {
    try await DataTestContext.with { context in
      _ = try await context.clientA.unary(AccountMethods.upsertAccount, Fixture.upsert(Fixture.account("acme")))
      let contacts = ["jos\u{e9}", "jose\u{301}", "ana"]
      for contact in contacts {
        _ = try await context.clientA.unary(
          AccountMethods.upsertContact, Fixture.upsert(Fixture.contact(contact, account: "acme")))
      }
      let survey = try await context.clientA.unary(SurveyMethods.createSurvey, SurveyFixture.survey("nps"))
      let round = try await SurveyFixture.openRound(context.clientA, survey.id)
      var request = Tally_V1_IssueInvitationsRequest()
      request.roundID = round.id
      request.invitees = contacts.map { contact in
        var invitee = Tally_V1_Invitee()
        invitee.contactID = contact
        return invitee
      }
      let tokens = try await context.clientA.unary(SurveyMethods.issueInvitations, request).invitations.map(\.token)
      for token in tokens {
        try await SurveyFixture.submit(context.collectorA, token, [SurveyFixture.number("score", 10)])
      }
      let results = try await SurveyFixture.results(context.readerA, survey.id, account: "acme")
      #expect(!results.overall.suppressed && results.overall.responses == 3 && results.overall.invitations == 3)
      // In the ids' byte order, as PostgreSQL's C collation lists them: "ana", "jose" + U+0301, "josé".
      #expect(
        results.contactAnswers.map { Array($0.contactID.utf8) }
          == ["ana", "jose\u{301}", "jos\u{e9}"].map { Array($0.utf8) })
    }
  }

  /// Segment names too: nine answers from team "Kiosk" and one from "\u{212A}iosk" (a Kelvin
  /// sign) are two segments, the lone one too small to show, so no exported row says its team.
  /// Merged, the team was shown and the one row spelled apart named its respondent's answer.
  @Test func lookAlikeTeamsAreTwoSegments() async throws {
    try await DataTestContext.with { context in
      let survey = try await context.clientA.unary(SurveyMethods.createSurvey, SurveyFixture.survey("enps"))
      let teams = Array(repeating: "Kiosk", count: 9) + ["\u{212A}iosk"]
      _ = try await SurveyResultsTests.round(context, survey.id, Array(repeating: 9, count: 9) + [0], teams: teams)
      let rows = try await SurveyResultsTests.export(context, survey.id)
      #expect(rows.count == 10)
      #expect(rows.allSatisfy { $0.segment.team.isEmpty }, "\(rows.map(\.segment.team))")
      // A filter names one spelling: the lone answer is no block of its own, so it is refused.
      var request = Tally_V1_GetResultsRequest()
      request.surveyID = survey.id
      request.filter.teams = ["\u{212A}iosk"]
      let lone = try await context.readerA.unary(SurveyMethods.getResults, request)
      #expect(lone.overall.suppressed && lone.overall.responses == 0)
    }
  }

  /// A choice answered in a look-alike spelling, or several in an order of one's own, is stored as
  /// the survey spells and orders them: either would mark one client's (one person's) row.
  @Test func choicesAreStoredAsTheSurveySpellsThem() async throws {
    try await DataTestContext.with { context in
      var create = SurveyFixture.pulse()
      create.survey.questions[2].choices = ["caf\u{e9}", "docs", "code"]
      let survey = try await context.clientA.unary(SurveyMethods.createSurvey, create)
      let round = try await SurveyFixture.openRound(context.clientA, survey.id)
      let tokens = try await SurveyFixture.tokens(context.clientA, round.id, 5, team: "core")
      for (index, token) in tokens.enumerated() {
        let focus = index == 0 ? ["docs", "cafe\u{301}"] : ["caf\u{e9}", "docs"]
        var remote = Tally_V1_Answer()
        (remote.questionID, remote.yes) = ("remote", true)
        let answers = [
          SurveyFixture.number("mood", 8), SurveyFixture.number("tools", 4), SurveyFixture.choices("focus", focus),
          remote,
        ]
        try await SurveyFixture.submit(context.collectorA, token, answers)
      }
      try await SurveyFixture.closeRound(context.clientA, round.id)
      let rows = try await SurveyResultsTests.export(context, survey.id)
      let focus = rows.compactMap { $0.answers.first { $0.questionID == "focus" }?.choices.values }
      #expect(focus.count == 5)
      #expect(
        focus.allSatisfy { $0.map { Array($0.utf8) } == [Array("caf\u{e9}".utf8), Array("docs".utf8)] }, "\(focus)")
    }
  }
}
