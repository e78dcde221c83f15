import TallyClient
import TallyProto
import TallyWire
import Testing

/// An anonymous export leaves out a choice or yes/no question one of whose answers fewer than the
/// threshold's respondents gave: the answer would name them, and their row the rest of what they said.
@Suite struct RareAnswersTests {
  @Test func aRareChoiceIsLeftOutOfEveryRowOfItsRound() async throws {
    try await DataTestContext.with { context in
      let survey = try await context.clientA.unary(SurveyMethods.createSurvey, SurveyFixture.pulse())
      let round = try await SurveyFixture.openRound(context.clientA, survey.id)
      let tokens = try await SurveyFixture.tokens(context.clientA, round.id, 6, team: "core")
      for (index, token) in tokens.enumerated() {
        // One respondent alone picks "meetings"; everyone says yes to "remote".
        let focus = index == 0 ? ["meetings", "code"] : ["code"]
        var remote = Tally_V1_Answer()
        (remote.questionID, remote.yes) = ("remote", true)
        let answers = [
          SurveyFixture.number("mood", Int32(index + 4)), SurveyFixture.number("tools", 3),
          SurveyFixture.choices("focus", focus), remote, SurveyFixture.text("why", "because \(index)"),
        ]
        try await SurveyFixture.submit(context.collectorA, token, answers)
      }
      try await SurveyFixture.closeRound(context.clientA, round.id)
      let rows = try await SurveyResultsTests.export(context, survey.id)
      #expect(rows.count == 6)
      for row in rows {
        #expect(row.withheldQuestionIds == ["focus"])
        #expect(row.answers.map(\.questionID) == ["mood", "tools", "remote", "why"])
      }
      // The results still count every choice: a distribution of six answers names no one.
      let results = try await SurveyFixture.results(context.readerA, survey.id)
      let focus = results.questions.first { $0.questionID == "focus" }
      #expect(focus?.distribution.first { $0.value == "meetings" }?.count == 1, "\(String(describing: focus))")
    }
  }
}
