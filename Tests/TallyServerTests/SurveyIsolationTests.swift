import Foundation
import SwiftProtobuf
import TallyClient
import TallyProto
import TallyWire
import Testing

/// Tenant A's keys with tenant B's survey, round and token ids, for every survey method; and a
/// `collect` key against every method it may not call.
@Suite struct SurveyIsolationTests {
  /// Tenant B's anonymous survey with an open round: six tokens, five answered with a comment.
  struct TenantBSurvey {
    var survey: Tally_V1_Survey
    var round: Tally_V1_Round
    var unusedToken: String
  }

  private func seedTenantB(_ context: DataTestContext) async throws -> TenantBSurvey {
    let b = context.clientB
    _ = try await b.unary(AccountMethods.upsertAccount, Fixture.upsert(Fixture.account("b-acct")))
    _ = try await b.unary(AccountMethods.upsertContact, Fixture.upsert(Fixture.contact("b-contact", account: "b-acct")))
    var create = SurveyFixture.survey("enps", title: "B's eNPS")
    create.survey.questions = [
      SurveyFixture.question("score", "nps", required: true), SurveyFixture.question("reason", "text"),
    ]
    let survey = try await b.unary(SurveyMethods.createSurvey, create)
    let round = try await SurveyFixture.openRound(b, survey.id)
    let tokens = try await SurveyFixture.tokens(b, round.id, 6, team: "core")
    for token in tokens.dropLast() {
      try await SurveyFixture.submit(
        context.collectorB, token, [SurveyFixture.number("score", 9), SurveyFixture.text("reason", "B's comment")])
    }
    return TenantBSurvey(survey: survey, round: round, unusedToken: tokens.last!)
  }

  @Test func tenantAsKeysNeverReadOrChangeTenantBsSurveys() async throws {
    try await DataTestContext.with { context in
      let theirs = try await self.seedTenantB(context)
      let a = context.clientA
      let surveyID = theirs.survey.id

      var get = Tally_V1_GetSurveyRequest()
      get.id = surveyID
      _ = await expectStatus(.notFound) { try await a.unary(SurveyMethods.getSurvey, get) }
      var update = Tally_V1_UpdateSurveyRequest()
      update.survey = theirs.survey
      update.survey.title = "hijacked"
      _ = await expectStatus(.notFound) { try await a.unary(SurveyMethods.updateSurvey, update) }
      var archive = Tally_V1_ArchiveSurveyRequest()
      archive.id = surveyID
      _ = await expectStatus(.notFound) { try await a.unary(SurveyMethods.archiveSurvey, archive) }
      _ = await expectStatus(.notFound) { try await SurveyFixture.openRound(a, surveyID) }
      _ = await expectStatus(.notFound) { try await SurveyFixture.closeRound(a, theirs.round.id) }
      var rounds = Tally_V1_ListRoundsRequest()
      rounds.surveyID = surveyID
      _ = await expectStatus(.notFound) { try await a.unary(SurveyMethods.listRounds, rounds) }
      _ = await expectStatus(.notFound) { try await SurveyFixture.tokens(a, theirs.round.id, 3) }
      _ = await expectStatus(.notFound) { try await SurveyFixture.results(a, surveyID) }
      _ = await expectStatus(.notFound) { try await SurveyFixture.results(context.readerA, surveyID) }
      var comments = Tally_V1_ListCommentsRequest()
      comments.surveyID = surveyID
      _ = await expectStatus(.notFound) { try await a.unary(SurveyMethods.listComments, comments) }
      var export = Tally_V1_ExportResponsesRequest()
      export.surveyID = surveyID
      let exportRequest = export
      _ = await expectStatus(.notFound) {
        try await a.serverStreaming(SurveyMethods.exportResponses, exportRequest) { stream in
          try await stream.reduce(0) { count, _ in count + 1 }
        }
      }
      // A's collect key cannot read or spend B's token.
      var forToken = Tally_V1_GetSurveyForTokenRequest()
      forToken.token = theirs.unusedToken
      _ = await expectStatus(.notFound) {
        try await context.collectorA.unary(SurveyMethods.getSurveyForToken, forToken)
      }
      _ = await expectStatus(.notFound) {
        try await SurveyFixture.submit(context.collectorA, theirs.unusedToken, [SurveyFixture.number("score", 0)])
      }
      // A's own NPS survey cannot invite B's contact.
      let ours = try await a.unary(SurveyMethods.createSurvey, SurveyFixture.survey("nps"))
      let ourRound = try await SurveyFixture.openRound(a, ours.id)
      _ = await expectStatus(.notFound) { try await SurveyFixture.contactTokens(a, ourRound.id, ["b-contact"]) }
      // Nor read B's round through A's own survey.
      _ = await expectStatus(.notFound) { try await SurveyFixture.results(a, ours.id, round: theirs.round.id) }
      var ourComments = Tally_V1_ListCommentsRequest()
      (ourComments.surveyID, ourComments.rounds.roundID) = (ours.id, theirs.round.id)
      _ = await expectStatus(.notFound) { try await a.unary(SurveyMethods.listComments, ourComments) }
      var ourExport = Tally_V1_ExportResponsesRequest()
      (ourExport.surveyID, ourExport.rounds.roundID) = (ours.id, theirs.round.id)
      let ourExportRequest = ourExport
      _ = await expectStatus(.notFound) {
        try await a.serverStreaming(SurveyMethods.exportResponses, ourExportRequest) { stream in
          try await stream.reduce(0) { count, _ in count + 1 }
        }
      }
      #expect(try await a.unary(SurveyMethods.listSurveys, .init()).surveys.map(\.id) == [ours.id])

      // B's survey, round, answers and token are exactly as B left them.
      let b = context.clientB
      // (The round is open, so even B's own key sees no count of its answers yet.)
      let survey = try await b.unary(SurveyMethods.getSurvey, get)
      #expect(survey.title == "B's eNPS" && !survey.archived && survey.responseCount == 0)
      let round = try await b.unary(SurveyMethods.listRounds, rounds).rounds
      #expect(round.count == 1 && round[0].status == "open" && round[0].invitations == 6 && round[0].responsesWithheld)
      try await SurveyFixture.submit(context.collectorB, theirs.unusedToken, [SurveyFixture.number("score", 10)])
      try await SurveyFixture.closeRound(b, theirs.round.id)
      let results = try await SurveyFixture.results(b, surveyID)
      #expect(results.overall.responses == 6 && results.overall.score == 100)
      #expect(try await b.unary(SurveyMethods.getSurvey, get).responseCount == 6)
      let listed = try await b.unary(SurveyMethods.listComments, comments)
      #expect(listed.comments.count == 5 && listed.comments.allSatisfy { $0.text == "B's comment" })

      // The eNPS KPI reads the survey tables: B's closed round is B's score and never A's.
      var kpis = Tally_V1_GetKpisRequest()
      kpis.names = ["enps"]
      let days = ISO8601DateFormatter()
      days.formatOptions = [.withFullDate]
      (kpis.from, kpis.to) = (days.string(from: Date() - 7 * 86_400), days.string(from: Date() + 86_400))
      let bScore = try await context.clientB.unary(KpiMethods.getKpis, kpis).kpis[0].current
      #expect(bScore.hasValue && bScore.value == 100)
      #expect(try await context.readerA.unary(KpiMethods.getKpis, kpis).kpis[0].current.hasValue == false)
    }
  }

  /// The server keeps decoded questions in one cache for every tenant: tenant B's survey, spelled
  /// like tenant A's but with other bytes ("é" as e + U+0301), comes back in B's bytes, not A's
  /// (which told B that a survey with that text was live, and showed B's respondents A's bytes).
  @Test func lookAlikeQuestionsOfAnotherTenantAreNeverServed() async throws {
    try await DataTestContext.with { context in
      func create(_ client: TallyClient, _ text: String) async throws -> Tally_V1_Survey {
        var request = SurveyFixture.survey("nps")
        var question = SurveyFixture.question("score", "nps", required: true)
        question.text = text
        request.survey.questions = [question]
        return try await client.unary(SurveyMethods.createSurvey, request)
      }
      let composed = "Recommanderiez-vous l'\u{E9}quipe ?"
      let decomposed = "Recommanderiez-vous l'e\u{301}quipe ?"
      let a = try await create(context.clientA, composed)
      _ = try await context.clientA.unary(SurveyMethods.getSurvey, .with { $0.id = a.id })
      let b = try await create(context.clientB, decomposed)
      let read = try await context.clientB.unary(SurveyMethods.getSurvey, .with { $0.id = b.id })
      #expect(Array(b.questions[0].text.utf8) == Array(decomposed.utf8))
      #expect(Array(read.questions[0].text.utf8) == Array(decomposed.utf8))
    }
  }

  @Test func aCollectKeyMayOnlyReadAndAnswerItsToken() async throws {
    try await DataTestContext.with { context in
      let survey = try await context.clientA.unary(SurveyMethods.createSurvey, SurveyFixture.survey("enps"))
      let round = try await SurveyFixture.openRound(context.clientA, survey.id)
      let token = try await SurveyFixture.tokens(context.clientA, round.id, 1)[0]

      // Every method of the catalogue but the two answering ones (and ping/server info, open to any key).
      let answering = [SurveyMethods.getSurveyForToken.fullName, SurveyMethods.submitResponse.fullName]
      let allowed = Set(answering + SystemMethods.all.map(\.fullName))
      let refused = MethodCatalog.all.filter { !allowed.contains($0.fullName) }
      #expect(refused.count == MethodCatalog.all.count - allowed.count)
      #expect(refused.contains { $0.fullName == AccountMethods.listAccounts.fullName })
      for method in refused {
        let error = await expectStatus(.permissionDenied) {
          try await context.collectorA.call(methodNamed: method.fullName, jsonRequests: ["{}"])
        }
        #expect(error != nil, "\(method.fullName)")
      }

      // A read key may not answer, and may not change surveys.
      _ = await expectStatus(.permissionDenied) {
        try await SurveyFixture.submit(context.readerA, token, [SurveyFixture.number("score", 7)])
      }
      _ = await expectStatus(.permissionDenied) {
        try await context.readerA.unary(SurveyMethods.createSurvey, SurveyFixture.survey("nps"))
      }
      _ = await expectStatus(.permissionDenied) { try await SurveyFixture.openRound(context.readerA, survey.id) }

      // The token is still unanswered: the collect key answers it once.
      var forToken = Tally_V1_GetSurveyForTokenRequest()
      forToken.token = token
      let shown = try await context.collectorA.unary(SurveyMethods.getSurveyForToken, forToken)
      #expect(shown.surveyID == survey.id && shown.roundNumber == 1)
      try await SurveyFixture.submit(context.collectorA, token, [SurveyFixture.number("score", 7)])
      _ = await expectStatus(.alreadyExists) {
        try await SurveyFixture.submit(context.collectorA, token, [SurveyFixture.number("score", 7)])
      }
    }
  }
}
