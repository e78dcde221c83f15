import Foundation
import SwiftProtobuf
import TallyClient
import TallyCore
import TallyProto
import TallyStore
import TallyWire
import Testing

/// SurveyService: definitions, rounds, invitations and answers against a real server and database.
@Suite struct SurveyServiceTests {
  @Test func surveysRoundTripWithTheirDefaults() async throws {
    try await DataTestContext.with { context in
      let enps = try await context.clientA.unary(SurveyMethods.createSurvey, SurveyFixture.survey("enps"))
      #expect(enps.anonymous && enps.anonymityThreshold == 5)
      #expect(enps.questions.map(\.type) == ["nps", "text"] && enps.questions[0].required)
      let nps = try await context.clientA.unary(SurveyMethods.createSurvey, SurveyFixture.survey("nps"))
      #expect(!nps.anonymous && nps.anonymityThreshold == 0)
      let pulse = try await context.clientA.unary(SurveyMethods.createSurvey, SurveyFixture.pulse())
      #expect(pulse.cadence.period == "weekly" && pulse.cadence.openDays == 5 && pulse.anonymous)

      var get = Tally_V1_GetSurveyRequest()
      get.id = pulse.id
      #expect(try await context.readerA.unary(SurveyMethods.getSurvey, get) == pulse)
      var list = Tally_V1_ListSurveysRequest()
      list.pageSize = 2
      let first = try await context.readerA.unary(SurveyMethods.listSurveys, list)
      list.pageToken = first.nextPageToken
      let second = try await context.readerA.unary(SurveyMethods.listSurveys, list)
      #expect(
        (first.surveys + second.surveys).map(\.id) == [enps.id, nps.id, pulse.id] && second.nextPageToken.isEmpty)

      var update = Tally_V1_UpdateSurveyRequest()
      update.survey = pulse
      update.survey.title = "Weekly pulse"
      update.survey.cadence.openDays = 3
      let updated = try await context.clientA.unary(SurveyMethods.updateSurvey, update)
      #expect(updated.title == "Weekly pulse" && updated.cadence.openDays == 3)

      var archive = Tally_V1_ArchiveSurveyRequest()
      archive.id = nps.id
      #expect(try await context.clientA.unary(SurveyMethods.archiveSurvey, archive).archived)
      _ = await expectStatus(.failedPrecondition) { try await SurveyFixture.openRound(context.clientA, nps.id) }
      list = Tally_V1_ListSurveysRequest()
      #expect(
        try await context.readerA.unary(SurveyMethods.listSurveys, list).surveys.map(\.id) == [enps.id, pulse.id])
      list.includeArchived = true
      list.kind = "nps"
      #expect(try await context.readerA.unary(SurveyMethods.listSurveys, list).surveys.map(\.id) == [nps.id])
    }
  }

  @Test func badSurveysNameTheFieldAndStoreNothing() async throws {
    try await DataTestContext.with { context in
      func create(_ change: (inout Tally_V1_CreateSurveyRequest) -> Void) async throws -> Tally_V1_Survey {
        var request = SurveyFixture.pulse()
        change(&request)
        return try await context.clientA.unary(SurveyMethods.createSurvey, request)
      }
      await expectViolation("survey.kind") { try await create { $0.survey.kind = "poll" } }
      await expectViolation("survey.title") { try await create { $0.survey.title = "" } }
      await expectViolation("survey.anonymity_threshold") { try await create { $0.survey.anonymityThreshold = 2 } }
      await expectViolation("survey.cadence.period") { try await create { $0.survey.cadence.period = "daily" } }
      await expectViolation("survey.cadence.open_day") { try await create { $0.survey.cadence.openDay = 8 } }
      await expectViolation("survey.cadence.open_days") { try await create { $0.survey.cadence.openDays = 8 } }
      await expectViolation("survey.questions") {
        try await create { $0.survey.questions = (1...11).map { SurveyFixture.question("q\($0)", "rating") } }
      }
      await expectViolation("survey.questions[1].id") {
        try await create {
          $0.survey.questions = [SurveyFixture.question("a", "nps"), SurveyFixture.question("a", "text")]
        }
      }
      await expectViolation("survey.questions[0].choices") {
        try await create { $0.survey.questions = [SurveyFixture.question("a", "single_choice", choices: ["only"])] }
      }
      await expectViolation("survey.questions[0].type") {
        try await create { $0.survey.questions = [SurveyFixture.question("a", "slider")] }
      }
      await expectViolation("survey.questions") {
        var request = SurveyFixture.survey("enps")
        request.survey.questions = [SurveyFixture.question("a", "nps"), SurveyFixture.question("b", "rating")]
        return try await context.clientA.unary(SurveyMethods.createSurvey, request)
      }
      // An anonymous survey's scored questions are required; only text may be optional.
      await expectViolation("survey.questions[1].required") {
        try await create {
          $0.survey.questions = [SurveyFixture.question("a", "text"), SurveyFixture.question("b", "yes_no")]
        }
      }
      await expectViolation("survey.questions[0].required") {
        var request = SurveyFixture.survey("nps", anonymous: true)
        request.survey.questions = [SurveyFixture.question("score", "nps")]
        return try await context.clientA.unary(SurveyMethods.createSurvey, request)
      }
      // An identified NPS survey still needs its score.
      await expectViolation("survey.questions[0].required") {
        var request = SurveyFixture.survey("nps")
        request.survey.questions = [SurveyFixture.question("score", "nps"), SurveyFixture.question("why", "text")]
        return try await context.clientA.unary(SurveyMethods.createSurvey, request)
      }
      await expectViolation("survey.cadence") {
        var request = SurveyFixture.survey("enps")
        request.survey.cadence.period = "weekly"
        return try await context.clientA.unary(SurveyMethods.createSurvey, request)
      }
      var list = Tally_V1_ListSurveysRequest()
      list.includeArchived = true
      let stored = try await context.readerA.unary(SurveyMethods.listSurveys, list).surveys
      #expect(stored.isEmpty)
      _ = await expectStatus(.permissionDenied) {
        try await context.readerA.unary(SurveyMethods.createSurvey, SurveyFixture.pulse())
      }
    }
  }

  /// A question sent without an id gets a free one: not "q2" when the client named another "q2".
  @Test func questionsWithoutIDsGetOnesNoOtherQuestionNames() async throws {
    try await DataTestContext.with { context in
      var create = SurveyFixture.pulse()
      create.survey.questions = [
        SurveyFixture.question("", "nps", required: true), SurveyFixture.question("q1", "rating", required: true),
        SurveyFixture.question("", "rating", required: true), SurveyFixture.question("q4", "text"),
      ]
      let stored = try await context.clientA.unary(SurveyMethods.createSurvey, create)
      #expect(stored.questions.map(\.id) == ["q2", "q1", "q3", "q4"])
    }
  }

  /// People were invited as anonymous (or not), with a threshold: neither can weaken under them.
  @Test func anonymityIsFixedOnceInvitationsAreOut() async throws {
    try await DataTestContext.with { context in
      let a = context.clientA
      _ = try await a.unary(AccountMethods.upsertAccount, Fixture.upsert(Fixture.account("acct")))
      _ = try await a.unary(AccountMethods.upsertContact, Fixture.upsert(Fixture.contact("ann", account: "acct")))
      let nps = try await a.unary(SurveyMethods.createSurvey, SurveyFixture.survey("nps", anonymous: true))
      var update = Tally_V1_UpdateSurveyRequest()
      update.survey = nps
      update.survey.anonymous = false
      #expect(try await a.unary(SurveyMethods.updateSurvey, update).anonymous == false, "no invitation yet")
      update.survey.anonymous = true
      #expect(try await a.unary(SurveyMethods.updateSurvey, update).anonymous)
      let round = try await SurveyFixture.openRound(a, nps.id)
      _ = try await SurveyFixture.contactTokens(a, round.id, ["ann"])
      update.survey.anonymous = false
      let refused = await expectStatus(.failedPrecondition) { try await a.unary(SurveyMethods.updateSurvey, update) }
      #expect(refused?.message.contains("survey.anonymous") == true)
      // Nor can the group size their answer hides in shrink; a larger one only hides more.
      update.survey.anonymous = true
      update.survey.anonymityThreshold = nps.anonymityThreshold + 2
      #expect(try await a.unary(SurveyMethods.updateSurvey, update).anonymityThreshold == nps.anonymityThreshold + 2)
      update.survey.anonymityThreshold = 3
      let lowered = await expectStatus(.failedPrecondition) { try await a.unary(SurveyMethods.updateSurvey, update) }
      #expect(lowered?.message.contains("survey.anonymity_threshold can no longer go lower") == true)
      var get = Tally_V1_GetSurveyRequest()
      get.id = nps.id
      let stored = try await a.unary(SurveyMethods.getSurvey, get)
      #expect(stored.anonymous && stored.anonymityThreshold == nps.anonymityThreshold + 2)
    }
  }

  /// An anonymous round's answer count shows only where its results do; an identified one's always.
  @Test func anonymousRoundCountsShowOnlyWithTheirResults() async throws {
    try await DataTestContext.with { context in
      let a = context.clientA
      let enps = try await a.unary(SurveyMethods.createSurvey, SurveyFixture.survey("enps"))
      func rounds() async throws -> [Tally_V1_Round] {
        var request = Tally_V1_ListRoundsRequest()
        request.surveyID = enps.id
        return try await a.unary(SurveyMethods.listRounds, request).rounds
      }
      var get = Tally_V1_GetSurveyRequest()
      get.id = enps.id
      // Four answers in a closed round: below the threshold of 5, withheld for good.
      let small = try await SurveyFixture.openRound(a, enps.id)
      for token in try await SurveyFixture.tokens(a, small.id, 4) {
        try await SurveyFixture.submit(context.collectorA, token, [SurveyFixture.number("score", 3)])
      }
      try await SurveyFixture.closeRound(a, small.id)
      // Five in an open round: withheld until it closes.
      let big = try await SurveyFixture.openRound(a, enps.id)
      for token in try await SurveyFixture.tokens(a, big.id, 5) {
        try await SurveyFixture.submit(context.collectorA, token, [SurveyFixture.number("score", 10)])
      }
      var listed = try await rounds()
      #expect(listed.map(\.responsesWithheld) == [true, true] && listed.map(\.responses) == [0, 0])
      #expect(try await a.unary(SurveyMethods.getSurvey, get).responseCount == 0)
      try await SurveyFixture.closeRound(a, big.id)
      listed = try await rounds()
      #expect(listed.map(\.responsesWithheld) == [true, false] && listed.map(\.responses) == [0, 5])
      #expect(try await a.unary(SurveyMethods.getSurvey, get).responseCount == 5)
      #expect(try await a.unary(SurveyMethods.listSurveys, .init()).surveys.map(\.responseCount) == [5])

      // An identified NPS survey has no threshold to keep: its counts are live.
      _ = try await a.unary(AccountMethods.upsertAccount, Fixture.upsert(Fixture.account("acct")))
      _ = try await a.unary(AccountMethods.upsertContact, Fixture.upsert(Fixture.contact("ann", account: "acct")))
      let nps = try await a.unary(SurveyMethods.createSurvey, SurveyFixture.survey("nps"))
      let open = try await SurveyFixture.openRound(a, nps.id)
      let token = try await SurveyFixture.contactTokens(a, open.id, ["ann"])["ann"]!
      try await SurveyFixture.submit(context.collectorA, token, [SurveyFixture.number("score", 8)])
      var request = Tally_V1_ListRoundsRequest()
      request.surveyID = nps.id
      let npsRound = try await a.unary(SurveyMethods.listRounds, request).rounds[0]
      #expect(npsRound.responses == 1 && !npsRound.responsesWithheld)
    }
  }

  @Test func tokensAnswerOnceWhileTheirRoundIsOpen() async throws {
    try await DataTestContext.with { context in
      let survey = try await context.clientA.unary(SurveyMethods.createSurvey, SurveyFixture.pulse())
      let round = try await SurveyFixture.openRound(context.clientA, survey.id)
      _ = await expectStatus(.failedPrecondition) { try await SurveyFixture.openRound(context.clientA, survey.id) }
      let tokens = try await SurveyFixture.tokens(context.clientA, round.id, 3, team: "core")
      #expect(Set(tokens).count == 3 && tokens.allSatisfy { $0.hasPrefix("tlys_") })

      var fetch = Tally_V1_GetSurveyForTokenRequest()
      fetch.token = tokens[0]
      let shown = try await context.collectorA.unary(SurveyMethods.getSurveyForToken, fetch)
      #expect(shown.surveyID == survey.id && shown.questions.count == 5 && shown.roundNumber == 1)
      fetch.token = "tlys_unknown"
      _ = await expectStatus(.notFound) { try await context.collectorA.unary(SurveyMethods.getSurveyForToken, fetch) }
      fetch.token = "not-a-token"
      let unknown = await expectStatus(.notFound) {
        try await context.collectorA.unary(SurveyMethods.getSurveyForToken, fetch)
      }
      #expect(unknown?.message == "unknown survey token: survey tokens start with tlys_")
      fetch.token = ""
      await expectViolation("token") { try await context.collectorA.unary(SurveyMethods.getSurveyForToken, fetch) }

      // Every bad answer names its field, and leaves the token unused. `complete` adds valid
      // answers to the required questions an attempt leaves out, so that its own fault is the first.
      let mood = SurveyFixture.number("mood", 9)
      func complete(_ answers: [Tally_V1_Answer]) -> [Tally_V1_Answer] {
        var remote = Tally_V1_Answer()
        remote.questionID = "remote"
        remote.yes = true
        let required = [SurveyFixture.number("tools", 4), SurveyFixture.choices("focus", ["code"]), remote]
        return answers + required.filter { answer in !answers.contains { $0.questionID == answer.questionID } }
      }
      await expectViolation("answers[0].number") {
        try await SurveyFixture.submit(context.collectorA, tokens[0], complete([SurveyFixture.number("mood", 11)]))
      }
      await expectViolation("answers") {
        try await SurveyFixture.submit(context.collectorA, tokens[0], complete([SurveyFixture.number("tools", 3)]))
      }
      await expectViolation("answers[1].number") {
        try await SurveyFixture.submit(
          context.collectorA, tokens[0], complete([mood, SurveyFixture.number("tools", 0)]))
      }
      await expectViolation("answers[1].question_id") {
        try await SurveyFixture.submit(
          context.collectorA, tokens[0], complete([mood, SurveyFixture.number("nope", 1)]))
      }
      await expectViolation("answers[1].question_id") {
        try await SurveyFixture.submit(context.collectorA, tokens[0], complete([mood, mood]))
      }
      await expectViolation("answers[1].choices") {
        try await SurveyFixture.submit(
          context.collectorA, tokens[0], complete([mood, SurveyFixture.choices("focus", ["golf"])]))
      }
      await expectViolation("answers[1].text") {
        try await SurveyFixture.submit(
          context.collectorA, tokens[0],
          complete([mood, SurveyFixture.text("why", String(repeating: "x", count: 2_001))]))
      }
      await expectViolation("answers[1]") {
        try await SurveyFixture.submit(
          context.collectorA, tokens[0], complete([mood, SurveyFixture.text("tools", "five")]))
      }
      let blank = await expectStatus(.invalidArgument) {
        try await SurveyFixture.submit(
          context.collectorA, tokens[0], complete([mood, SurveyFixture.text("why", " \n ")]))
      }
      #expect(
        blank?.fieldViolations.map(\.description) == [
          "must not be only white space (leave the question out to skip it)"
        ])
      let answer = complete([mood, SurveyFixture.text("why", String(repeating: "é", count: 2_000))])
      let stored = try await SurveyFixture.submit(context.collectorA, tokens[0], answer)
      #expect(stored.responseID.isEmpty, "an anonymous survey returns nothing that identifies the response")
      _ = await expectStatus(.alreadyExists) { try await SurveyFixture.submit(context.collectorA, tokens[0], answer) }
      fetch.token = tokens[0]
      _ = await expectStatus(.alreadyExists) {
        try await context.collectorA.unary(SurveyMethods.getSurveyForToken, fetch)
      }

      // An expired token is NOT_FOUND; a closed round is FAILED_PRECONDITION.
      var expiring = Tally_V1_IssueInvitationsRequest()
      expiring.roundID = round.id
      expiring.count = 1
      expiring.expiresAt = Google_Protobuf_Timestamp(date: context.clock.now.addingTimeInterval(3_600))
      let expiringToken = try await context.clientA.unary(SurveyMethods.issueInvitations, expiring).invitations[0].token
      context.clock.advance(by: 7_200)
      _ = await expectStatus(.notFound) {
        try await SurveyFixture.submit(context.collectorA, expiringToken, complete([mood]))
      }
      try await SurveyFixture.closeRound(context.clientA, round.id)
      // A token lives as long as its round: a closed round's token has expired.
      let expired = await expectStatus(.notFound) {
        try await SurveyFixture.submit(context.collectorA, tokens[1], complete([mood]))
      }
      #expect(expired?.message == "this survey round is closed: its tokens have expired")
      fetch.token = tokens[1]
      _ = await expectStatus(.notFound) { try await context.collectorA.unary(SurveyMethods.getSurveyForToken, fetch) }
      _ = await expectStatus(.failedPrecondition) { try await SurveyFixture.tokens(context.clientA, round.id, 1) }

      var rounds = Tally_V1_ListRoundsRequest()
      rounds.surveyID = survey.id
      let listed = try await context.readerA.unary(SurveyMethods.listRounds, rounds).rounds
      // One answer: below the threshold, so its count is withheld like its results.
      #expect(listed.map(\.status) == ["closed"] && listed[0].invitations == 4 && listed[0].responsesWithheld)
      var update = Tally_V1_UpdateSurveyRequest()
      update.survey = survey
      _ = await expectStatus(.failedPrecondition) {
        try await context.clientA.unary(SurveyMethods.updateSurvey, update)
      }
    }
  }

  /// Contacts whose ids look alike ("é" and "e" + U+0301) are two people, as PostgreSQL has them:
  /// invited in one call, each invitation records its own contact's account and tier.
  @Test func lookAlikeContactsAreInvitedAsTwoPeople() async throws {
    try await DataTestContext.with { context in
      let people = [("jos\u{e9}", "acme", UInt32(1)), ("jose\u{301}", "globex", UInt32(3))]
      for (contact, account, tier) in people {
        _ = try await context.clientA.unary(
          AccountMethods.upsertAccount, Fixture.upsert(Fixture.account(account, tier: tier)))
        _ = try await context.clientA.unary(
          AccountMethods.upsertContact, Fixture.upsert(Fixture.contact(contact, account: account)))
      }
      let survey = try await context.clientA.unary(SurveyMethods.createSurvey, SurveyFixture.survey("nps"))
      let round = try await SurveyFixture.openRound(context.clientA, survey.id)
      var request = Tally_V1_IssueInvitationsRequest()
      request.roundID = round.id
      request.invitees = people.map { contact, _, _ in
        var invitee = Tally_V1_Invitee()
        invitee.contactID = contact
        return invitee
      }
      let issued = try await context.clientA.unary(SurveyMethods.issueInvitations, request)
      #expect(issued.invitations.count == 2)
      let stored = try await context.pool.withTransaction(tenant: context.tenantA) { connection in
        try connection.query("SELECT contact_id, account_id, tier FROM survey_invitations ORDER BY contact_id").rows
          .map { row in
            [
              Array(try row.require(String.self, "contact_id").utf8),
              Array(try row.require(String.self, "account_id").utf8),
              Array(String(try row.require(Int.self, "tier")).utf8),
            ]
          }
      }
      let expected = people.map { [Array($0.0.utf8), Array($0.1.utf8), Array(String($0.2).utf8)] }
      #expect(Set(stored) == Set(expected))

      // A refused invitee is named by its place in the list, and nothing of the call is stored.
      var again = request
      again.invitees.insert(Tally_V1_Invitee.with { $0.contactID = "nobody" }, at: 0)
      let repeated = await expectStatus(.alreadyExists) {
        try await context.clientA.unary(SurveyMethods.issueInvitations, again)
      }
      #expect(repeated?.message.hasPrefix("invitees[1].contact_id: contact jos\u{e9} already has") == true)
      again.invitees = [again.invitees[0]]
      let unknown = await expectStatus(.notFound) {
        try await context.clientA.unary(SurveyMethods.issueInvitations, again)
      }
      #expect(unknown?.message == "no contact nobody (invitees[0].contact_id)")
      let count = try await context.pool.withTransaction(tenant: context.tenantA) { connection in
        try connection.query("SELECT count(*) AS n FROM survey_invitations").rows[0].require(Int.self, "n")
      }
      #expect(count == 2)
    }
  }

  @Test func oneHundredConcurrentAnswersWithOneTokenStoreOne() async throws {
    try await DataTestContext.with { context in
      let survey = try await context.clientA.unary(SurveyMethods.createSurvey, SurveyFixture.survey("enps"))
      let round = try await SurveyFixture.openRound(context.clientA, survey.id)
      let token = try await SurveyFixture.tokens(context.clientA, round.id, 1)[0]
      let outcomes = await withTaskGroup(of: String.self) { group in
        for index in 0..<100 {
          group.addTask {
            do {
              try await SurveyFixture.submit(
                context.collectorA, token, [SurveyFixture.number("score", Int32(index % 11))])
              return "stored"
            } catch let error as RPCError {
              return error.code == .alreadyExists ? "already" : "\(error)"
            } catch {
              return "\(error)"
            }
          }
        }
        return await group.reduce(into: [String: Int]()) { $0[$1, default: 0] += 1 }
      }
      #expect(outcomes == ["stored": 1, "already": 99])
      // An eNPS answer waits sealed until its round closes.
      let stored = try await context.pool.withTransaction(tenant: context.tenantA) { connection in
        try connection.query("SELECT count(*) AS n FROM survey_sealed_answers").rows[0].require(Int.self, "n")
      }
      #expect(stored == 1)
    }
  }

  @Test func pulseRoundsOpenOnTheirCadence() async throws {
    try await DataTestContext.with { context in
      let at: @Sendable (String) -> Date = { ISO8601DateFormatter().date(from: $0)! }
      context.clock.set(at("2026-01-01T09:00:00Z"))  // a Thursday: the cadence counts from here
      let survey = try await context.clientA.unary(SurveyMethods.createSurvey, SurveyFixture.pulse(openDay: 1))
      let scheduler = PulseRoundScheduler(pool: context.pool)
      #expect(try await scheduler.openDueRounds(now: at("2026-01-04T23:59:59Z")) == 0)
      // Four tallyd ticking at the same instant open the round once.
      let opened = try await withThrowingTaskGroup(of: Int.self) { group in
        let instant = at("2026-01-05T00:00:30Z")
        for _ in 0..<4 { group.addTask { try await scheduler.openDueRounds(now: instant) } }
        return try await group.reduce(0, +)
      }
      #expect(opened == 1)
      #expect(try await scheduler.openDueRounds(now: at("2026-01-06T10:00:00Z")) == 0)
      #expect(try await scheduler.openDueRounds(now: at("2026-01-11T10:00:00Z")) == 0, "between rounds")
      #expect(try await scheduler.openDueRounds(now: at("2026-01-12T00:01:00Z")) == 1)

      context.clock.set(at("2026-01-13T12:00:00Z"))
      var request = Tally_V1_ListRoundsRequest()
      request.surveyID = survey.id
      let rounds = try await context.readerA.unary(SurveyMethods.listRounds, request).rounds
      #expect(rounds.map(\.number) == [1, 2] && rounds.allSatisfy(\.scheduled))
      #expect(rounds.map(\.status) == ["closed", "open"])
      #expect(
        rounds[0].opensAt.date == at("2026-01-05T00:00:00Z") && rounds[0].closesAt.date == at("2026-01-10T00:00:00Z"))
      #expect(
        rounds[1].opensAt.date == at("2026-01-12T00:00:00Z") && rounds[1].closesAt.date == at("2026-01-17T00:00:00Z"))

      // No round opens while one opened by hand is open; once it closes, the period's round opens.
      try await SurveyFixture.closeRound(context.clientA, rounds[1].id)
      let byHand = try await SurveyFixture.openRound(context.clientA, survey.id)
      #expect(try await scheduler.openDueRounds(now: at("2026-01-19T00:00:00Z")) == 0, "the hand-opened round is open")
      context.clock.set(at("2026-01-19T08:00:00Z"))
      try await SurveyFixture.closeRound(context.clientA, byHand.id)
      #expect(try await scheduler.openDueRounds(now: at("2026-01-19T09:00:00Z")) == 1)
      // A round opened by hand inside a period's window is that period's round.
      context.clock.set(at("2026-01-26T08:00:00Z"))
      let periodRound = try await SurveyFixture.openRound(context.clientA, survey.id)
      context.clock.set(at("2026-01-26T09:00:00Z"))
      try await SurveyFixture.closeRound(context.clientA, periodRound.id)
      #expect(try await scheduler.openDueRounds(now: at("2026-01-26T10:00:00Z")) == 0, "the period had its round")
      #expect(try await context.readerA.unary(SurveyMethods.listRounds, request).rounds.count == 5)
      // Archiving stops the cadence.
      var archive = Tally_V1_ArchiveSurveyRequest()
      archive.id = survey.id
      _ = try await context.clientA.unary(SurveyMethods.archiveSurvey, archive)
      #expect(try await scheduler.openDueRounds(now: at("2026-02-02T00:00:00Z")) == 0)
    }
  }
}
