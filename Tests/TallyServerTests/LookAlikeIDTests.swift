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
      #expect(results.contactAnswers.count == 3)
    }
  }
}
