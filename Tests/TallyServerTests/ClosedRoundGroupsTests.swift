import Foundation
import TallyClient
import TallyProto
import TallyStore
import TallyTestSupport
import TallyWire
import Testing

/// An anonymous round's groups rest on who was invited: once it is closed and its results may
/// show, no deleted contact and no late invitation changes them, or two reads of one filter,
/// before and after, would tell one person's answer apart.
@Suite struct ClosedRoundGroupsTests {
  private static func results(_ context: DataTestContext, _ surveyID: String, tiers: [UInt32]) async throws
    -> Tally_V1_ResultCell
  {
    var request = Tally_V1_GetResultsRequest()
    request.surveyID = surveyID
    request.filter.tiers = tiers
    return try await context.readerA.unary(SurveyMethods.getResults, request).overall
  }

  @Test func deletingContactsLeavesAClosedRoundsGroupsAsTheyWere() async throws {
    try await DataTestContext.with { context in
      // Invited and answered, by account tier: 1 → 10 and 6, 2 → 8 and 6, 3 → 1 and 1.
      var contacts: [(id: String, tier: UInt32, answers: Bool)] = []
      for (tier, invited, answered) in [(UInt32(1), 10, 6), (2, 8, 6), (3, 1, 1)] {
        let account = "tier-\(tier)"
        _ = try await context.clientA.unary(
          AccountMethods.upsertAccount, Fixture.upsert(Fixture.account(account, tier: tier)))
        for index in 0..<invited {
          let id = "\(account)-\(index)"
          _ = try await context.clientA.unary(
            AccountMethods.upsertContact, Fixture.upsert(Fixture.contact(id, account: account)))
          contacts.append((id, tier, index < answered))
        }
      }
      let survey = try await context.clientA.unary(
        SurveyMethods.createSurvey, SurveyFixture.survey("nps", anonymous: true))
      let round = try await SurveyFixture.openRound(context.clientA, survey.id)
      let tokens = try await SurveyFixture.contactTokens(context.clientA, round.id, contacts.map(\.id))
      for contact in contacts where contact.answers {
        try await SurveyFixture.submit(
          context.collectorA, tokens[contact.id]!, [SurveyFixture.number("score", contact.tier == 3 ? 0 : 10)])
      }
      try await SurveyFixture.closeRound(context.clientA, round.id)
      let tierOneAndThree = try await Self.results(context, survey.id, tiers: [1, 3])
      #expect(tierOneAndThree.responses == 7 && !tierOneAndThree.suppressed)
      #expect(try await Self.results(context, survey.id, tiers: [1]).suppressed, "tier 3's one answer would show")

      for contact in contacts where contact.tier == 1 && !contact.answers {
        var delete = Tally_V1_DeleteContactRequest()
        delete.id = contact.id
        _ = try await context.clientA.unary(AccountMethods.deleteContact, delete)
      }
      #expect(try await Self.results(context, survey.id, tiers: [1, 3]) == tierOneAndThree)
      let tierOne = try await Self.results(context, survey.id, tiers: [1])
      #expect(tierOne.suppressed && tierOne.responses == 0, "\(tierOne)")
      let invitations = try await context.pool.withTransaction(tenant: context.tenantA) { connection in
        try connection.query(
          "SELECT count(*) AS n, count(contact_id) AS named FROM survey_invitations WHERE round_id = $1::uuid",
          [round.id]
        ).rows[0]
      }
      #expect(try invitations.require(Int64.self, "n") == 19 && invitations.require(Int64.self, "named") == 15)
    }
  }

  /// IssueInvitations that read its round as open, then waited for the survey's lock while the
  /// round closed, must not add to the closed round.
  @Test func invitationsWaitingWhileTheRoundClosesAreRefused() async throws {
    try await DataTestContext.with { context in
      let survey = try await context.clientA.unary(SurveyMethods.createSurvey, SurveyFixture.survey("enps"))
      let round = try await SurveyFixture.openRound(context.clientA, survey.id)
      let closer = try await HeldTransaction(context.pool, tenant: context.tenantA) { connection in
        try connection.query("SELECT 1 FROM surveys WHERE survey_id = $1::uuid FOR UPDATE", [survey.id])
      } beforeCommit: { connection in
        try connection.query(
          "UPDATE survey_rounds SET closes_at = greatest(now() - interval '1 second', opens_at + interval '1 microsecond') WHERE round_id = $1::uuid",
          [round.id])
      }
      let issue = Task { try await SurveyFixture.tokens(context.clientA, round.id, 10, team: "late") }
      // The call reads the round as open and waits for the survey's lock; then the round closes.
      #expect(try await waitUntilALockIsAwaited(in: context.appURL), "the call never waited for the survey")
      try await closer.release()
      let error = await expectStatus(.failedPrecondition) { try await issue.value }
      #expect(error?.message.contains("closed") == true, "\(String(describing: error))")
      let invitations = try await context.pool.withTransaction(tenant: context.tenantA) { connection in
        try connection.query("SELECT count(*) AS n FROM survey_invitations WHERE round_id = $1::uuid", [round.id])
          .rows[0].require(Int64.self, "n")
      }
      #expect(invitations == 0)
    }
  }
}
