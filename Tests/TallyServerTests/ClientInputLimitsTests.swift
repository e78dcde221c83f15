import Foundation
import SwiftProtobuf
import TallyClient
import TallyProto
import TallyWire
import Testing

@testable import TallyCore

/// Values at the edges of their types, which once made the server's arithmetic trap and so stopped
/// it for every tenant: each now gets INVALID_ARGUMENT naming its field, and the server answers on.
@Suite struct ClientInputLimitsTests {
  private static let absurdTimes = [Int64.max, Int64.min, 1_000_000_000_000]

  @Test func datesTooLongForTheirDigitsNameTheirField() async throws {
    try await DataTestContext.with { context in
      var kpis = Tally_V1_GetKpisRequest()
      (kpis.from, kpis.to) = ("2024-01-9223372036854775807", "2026-04-01")
      await expectViolation("from") { try await context.readerA.unary(KpiMethods.getKpis, kpis) }
      var engagement = Tally_V1_GetAccountEngagementRequest()
      engagement.asOf = "99999999999999999999-01-01"
      await expectViolation("as_of") { try await context.readerA.unary(KpiMethods.getAccountEngagement, engagement) }
      _ = try await context.readerA.unary(SystemMethods.ping, Tally_V1_PingRequest())
    }
  }

  /// Hundreds of thousands of bad entries in one request: the answer lists the first hundred and
  /// counts the rest, where it once grew past what a client reads and cost the connection.
  @Test func aFloodOfBadEntriesGetsABoundedAnswer() async throws {
    try await DataTestContext.with { context in
      var request = Tally_V1_UpdateKpiSettingsRequest()
      request.settings.eventWeights = Dictionary(uniqueKeysWithValues: (0..<1_000).map { ("k\($0)", 1) })
      let error = await expectStatus(.invalidArgument) {
        try await context.clientA.unary(KpiMethods.updateSettings, request)
      }
      #expect(error?.fieldViolations.count == RPCError.maxFieldViolations)
      #expect(error?.fieldViolations.first?.field.hasPrefix("settings.event_weights[") == true)
      #expect(error?.message.contains("(1000 in all, the first 100 in field_violations)") == true)
      #expect((error?.message.utf8.count ?? .max) < 8_192)
      // Longer lists are refused by their length, before the request is decoded.
      request.settings.eventWeights = Dictionary(uniqueKeysWithValues: (0..<200_000).map { ("k\($0)", 1) })
      let flood = await expectStatus(.invalidArgument) {
        try await context.clientA.unary(KpiMethods.updateSettings, request)
      }
      #expect(flood?.fieldViolations.map(\.field) == ["settings.event_weights"])
      #expect(flood?.message.contains("must have at most 1000 entries, got 200000") == true)
      // A limit cuts a list short: past it, the entries are not checked one by one.
      var targets = Tally_V1_SetCampaignTargetsRequest()
      targets.campaignID = "camp"
      targets.remove = Array(repeating: "", count: 300_000)
      let tooMany = await expectStatus(.invalidArgument) {
        try await context.clientA.unary(CampaignMethods.setCampaignTargets, targets)
      }
      #expect(tooMany?.fieldViolations.map(\.field) == ["remove"])
      // Violations gathered from several checks keep their count: 1 round id and 500 contact ids.
      var invitations = Tally_V1_IssueInvitationsRequest()
      invitations.roundID = "not-a-round"
      invitations.invitees = (0..<500).map { index in
        var invitee = Tally_V1_Invitee()
        invitee.contactID = "c\u{1}\(index)"
        return invitee
      }
      let gathered = await expectStatus(.invalidArgument) {
        try await context.clientA.unary(SurveyMethods.issueInvitations, invitations)
      }
      #expect(gathered?.fieldViolations.first?.field == "round_id")
      #expect(gathered?.message.contains("(501 in all, the first 100 in field_violations)") == true)
      _ = try await context.readerA.unary(SystemMethods.ping, Tally_V1_PingRequest())
    }
  }

  @Test func eventTimesAndValuesBeyondTheirRangeAreRejectedOneByOne() async throws {
    try await DataTestContext.with { context in
      let far = Self.absurdTimes.enumerated().map { index, seconds in
        var event = Fixture.event("far-\(index)")
        event.occurredAt = Google_Protobuf_Timestamp(seconds: seconds, nanos: 0)
        return event
      }
      var rich = Fixture.event("rich")
      rich.value = FieldChecker.maxMoney + 1
      let events = far + [rich, Fixture.event("fine")]
      let response = try await context.clientA.clientStreaming(EventMethods.recordEvents) { writer in
        var request = Tally_V1_RecordEventsRequest()
        request.events = events
        try await writer.send(request)
      }
      #expect(response.accepted == 1)
      #expect(response.rejections.map(\.field) == ["occurred_at", "occurred_at", "occurred_at", "value"])
    }
  }

  /// Values each within range whose daily rollup would pass 2^63: OUT_OF_RANGE, nothing stored.
  @Test func eventValuesWhoseRollupWouldOverflowAreOutOfRange() async throws {
    try await DataTestContext.with { context in
      let events = (0..<9_224).map { index in
        var event = Fixture.event("big-\(index)")
        event.value = FieldChecker.maxMoney
        return event
      }
      _ = await expectStatus(.outOfRange) {
        try await context.clientA.clientStreaming(EventMethods.recordEvents) { writer in
          var request = Tally_V1_RecordEventsRequest()
          request.events = events
          try await writer.send(request)
        }
      }
      let stored = try await context.readerA.serverStreaming(EventMethods.listEvents, .init()) { stream in
        try await stream.reduce(0) { $0 + $1.events.count }
      }
      #expect(stored == 0)
    }
  }

  /// Invitations whose answer (each token with its segment) would not fit in one frame are not
  /// issued at all: stored, the tokens nobody got would count in the round for ever.
  @Test func invitationsWhoseAnswerWouldPassTheFrameLimitAreNotIssued() async throws {
    try await DataTestContext.with { context in
      let survey = try await context.clientA.unary(SurveyMethods.createSurvey, SurveyFixture.survey("enps"))
      let round = try await SurveyFixture.openRound(context.clientA, survey.id)
      var issue = Tally_V1_IssueInvitationsRequest()
      issue.roundID = round.id
      issue.count = 10_000
      let wide = String(repeating: "é", count: 100)  // 200 bytes, within the 100 characters allowed
      (issue.segment.department, issue.segment.team, issue.segment.location) = (wide, wide, wide)
      await expectViolation("count") { try await context.clientA.unary(SurveyMethods.issueInvitations, issue) }
      var list = Tally_V1_ListRoundsRequest()
      list.surveyID = survey.id
      let rounds = try await context.readerA.unary(SurveyMethods.listRounds, list).rounds
      #expect(rounds.map(\.invitations) == [0])
      issue.count = 1_000
      #expect(try await context.clientA.unary(SurveyMethods.issueInvitations, issue).invitations.count == 1_000)
    }
  }

  @Test func roundAndInvitationTimesBeyondTheirRangeNameTheirField() async throws {
    try await DataTestContext.with { context in
      let survey = try await context.clientA.unary(SurveyMethods.createSurvey, SurveyFixture.survey("enps"))
      for seconds in Self.absurdTimes {
        var open = Tally_V1_OpenRoundRequest()
        open.surveyID = survey.id
        open.closesAt = Google_Protobuf_Timestamp(seconds: seconds, nanos: 0)
        await expectViolation("closes_at") { try await context.clientA.unary(SurveyMethods.openRound, open) }
      }
      let round = try await SurveyFixture.openRound(context.clientA, survey.id)
      for seconds in Self.absurdTimes {
        var issue = Tally_V1_IssueInvitationsRequest()
        issue.roundID = round.id
        issue.count = 1
        issue.expiresAt = Google_Protobuf_Timestamp(seconds: seconds, nanos: 0)
        await expectViolation("expires_at") { try await context.clientA.unary(SurveyMethods.issueInvitations, issue) }
      }
    }
  }

  @Test func aCommentPageTokenWithAHugeKeyOrSeedIsRefused() async throws {
    try await DataTestContext.with { context in
      var request = Tally_V1_ListCommentsRequest()
      request.surveyID = UUID().uuidString.lowercased()
      request.pageToken = Data("c2|seed|\(String(repeating: "k", count: 100_000))".utf8).base64EncodedString()
      await expectViolation("page_token") { try await context.readerA.unary(SurveyMethods.listComments, request) }
      // A seed longer than the server's (a UUID) would be hashed again for every comment.
      request.pageToken = Data("c2|\(String(repeating: "s", count: 100_000))|k".utf8).base64EncodedString()
      await expectViolation("page_token") { try await context.readerA.unary(SurveyMethods.listComments, request) }
    }
  }

  @Test func amountsOfMoneyAboveTenToTheFifteenNameTheirField() async throws {
    try await DataTestContext.with { context in
      let tooMuch = FieldChecker.maxMoney + 1
      var account = Fixture.account("acme")
      account.arr = tooMuch
      await expectViolation("account.arr") {
        try await context.clientA.unary(AccountMethods.upsertAccount, Fixture.upsert(account))
      }
      account.clearArr()
      account.annualRevenue = tooMuch
      await expectViolation("account.annual_revenue") {
        try await context.clientA.unary(AccountMethods.upsertAccount, Fixture.upsert(account))
      }
      account.annualRevenue = FieldChecker.maxMoney
      _ = try await context.clientA.unary(AccountMethods.upsertAccount, Fixture.upsert(account))
      var opportunity = Tally_V1_Opportunity()
      (opportunity.id, opportunity.accountID, opportunity.name) = ("o1", "acme", "Deal")
      (opportunity.status, opportunity.type, opportunity.amount) = ("open", "new_business", tooMuch)
      opportunity.createdAt = Fixture.time("2026-01-10T00:00:00Z")
      await expectViolation("opportunity.amount") {
        try await context.clientA.unary(OpportunityMethods.upsertOpportunity, Fixture.upsert(opportunity))
      }
      var cost = Tally_V1_RecordCostRequest()
      (cost.cost.key, cost.cost.date, cost.cost.amount, cost.cost.category) = ("k", "2026-02-03", tooMuch, "media")
      await expectViolation("cost.amount") { try await context.clientA.unary(CampaignMethods.recordCost, cost) }
      var campaign = Fixture.campaign("q1")
      campaign.budget = tooMuch
      await expectViolation("campaign.budget") {
        try await context.clientA.unary(CampaignMethods.upsertCampaign, Fixture.upsert(campaign))
      }
    }
  }
}

/// Text the server's checks let through and the database's refused, which ended the call with
/// INTERNAL (and, in RecordEvents, failed the whole batch for one event).
@Suite struct TextTheDatabaseRefusesTests {
  @Test func lengthsCountUnicodeCodePointsAsTheTablesDo() async throws {
    try await DataTestContext.with { context in
      // 150 characters as a person reads them, 300 code points: an "e" and a combining accent each.
      let accented = String(repeating: "e\u{301}", count: 150)
      #expect(accented.count == 150 && accented.unicodeScalars.count == 300)
      await expectViolation("account.id") {
        try await context.clientA.unary(
          AccountMethods.upsertAccount, Fixture.upsert(Fixture.account(accented, name: "Acme")))
      }
      await expectViolation("account.name") {
        try await context.clientA.unary(
          AccountMethods.upsertAccount, Fixture.upsert(Fixture.account("acme", name: accented)))
      }
      var tenant = Tally_V1_CreateTenantRequest()
      (tenant.name, tenant.currency) = (accented, "EUR")
      await expectViolation("name") { try await context.operatorClient.unary(AdminMethods.createTenant, tenant) }
    }
  }

  @Test func aNulCharacterIsRefusedWhereItWouldBeStored() async throws {
    try await DataTestContext.with { context in
      var withNul = Fixture.event("nul")
      withNul.properties = ["utm_source": "a\u{0}b"]
      let events = [withNul, Fixture.event("fine")]
      let response = try await context.clientA.clientStreaming(EventMethods.recordEvents) { writer in
        var request = Tally_V1_RecordEventsRequest()
        request.events = events
        try await writer.send(request)
      }
      #expect(response.accepted == 1 && response.rejections.map(\.field) == ["properties[utm_source]"])
      _ = try await context.clientA.unary(AccountMethods.upsertAccount, Fixture.upsert(Fixture.account("acme")))
      var contact = Fixture.contact("c1", account: "acme")
      contact.email = "ana\u{0}@example.com"
      await expectViolation("contact.email") {
        try await context.clientA.unary(AccountMethods.upsertContact, Fixture.upsert(contact))
      }
    }
  }

  @Test func pageTokensWithPositionsNoRowCanHaveAreRefused() async throws {
    try await DataTestContext.with { context in
      let token = Data("v1|\(Int64.max)|\(UUID().uuidString)".utf8).base64EncodedString()
      var costs = Tally_V1_ListCostsRequest()
      costs.pageToken = token
      await expectViolation("page_token") { try await context.readerA.unary(CampaignMethods.listCosts, costs) }
      var surveys = Tally_V1_ListSurveysRequest()
      surveys.pageToken = token
      await expectViolation("page_token") { try await context.readerA.unary(SurveyMethods.listSurveys, surveys) }
      var tenants = Tally_V1_ListTenantsRequest()
      tenants.pageToken = token
      await expectViolation("page_token") { try await context.operatorClient.unary(AdminMethods.listTenants, tenants) }
      // An id token holding a NUL, which no id has: named, not refused by the connection's last check.
      var accounts = Tally_V1_ListAccountsRequest()
      accounts.pageToken = Data("k1|a\u{0}b".utf8).base64EncodedString()
      await expectViolation("page_token") { try await context.readerA.unary(AccountMethods.listAccounts, accounts) }
      // Every bad field of a list request in one answer: only the first was named.
      var bad = Tally_V1_ListAccountsRequest()
      (bad.pageSize, bad.pageToken, bad.tier) = (5_000, "x", 7)
      let all = await expectStatus(.invalidArgument) {
        try await context.readerA.unary(AccountMethods.listAccounts, bad)
      }
      #expect(all?.fieldViolations.map(\.field) == ["page_size", "page_token", "tier"])
      var badCosts = Tally_V1_ListCostsRequest()
      (badCosts.pageSize, badCosts.pageToken, badCosts.fromDate) = (5_000, "x", "2024-13-01")
      let allCosts = await expectStatus(.invalidArgument) {
        try await context.readerA.unary(CampaignMethods.listCosts, badCosts)
      }
      #expect(allCosts?.fieldViolations.map(\.field) == ["page_size", "page_token", "from_date"])
      // A reversed range of costs is refused, as ListEvents refuses one: it listed nothing.
      var reversed = Tally_V1_ListCostsRequest()
      (reversed.fromDate, reversed.toDate) = ("2026-05-01", "2026-01-01")
      await expectViolation("to_date") { try await context.readerA.unary(CampaignMethods.listCosts, reversed) }
    }
  }
}

@Test func isoDatesAreReadOnlyFromFourTwoAndTwoDigits() {
  #expect(CivilDay(isoDate: "2026-02-28")?.description == "2026-02-28")
  for text in ["2024-01-9223372036854775807", "2026-1-1", "+026-01-01", "2026-01-0x", "２０２６-01-01", "2026/01/01"] {
    #expect(CivilDay(isoDate: text) == nil, "\(text)")
  }
}

@Test func moneyTotalsPastTwoToTheSixtyThreeAreOutOfRange() throws {
  #expect(try [FieldChecker.maxMoney, 1].moneyTotal() == FieldChecker.maxMoney + 1)
  let error = #expect(throws: RPCError.self) { try Array(repeating: FieldChecker.maxMoney, count: 9_224).moneyTotal() }
  #expect(error?.code == .outOfRange)
}
