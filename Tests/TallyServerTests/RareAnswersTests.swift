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
        let remote = SurveyFixture.yes("remote", true)
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

  /// Counted per group the rows show: two teams each shown with its label, one newcomer in one
  /// and four in the other are five in the round, but the labelled row of the one would name them.
  @Test func aChoiceRareInOneShownTeamIsLeftOut() async throws {
    try await DataTestContext.with { context in
      let survey = try await context.clientA.unary(SurveyMethods.createSurvey, SurveyFixture.pulse())
      let round = try await SurveyFixture.openRound(context.clientA, survey.id)
      var tokens: [(team: String, token: String)] = []
      for team in ["kiosk", "ops"] {
        tokens += try await SurveyFixture.tokens(context.clientA, round.id, 6, team: team).map { (team, $0) }
      }
      var newcomers = 0
      for (team, token) in tokens {
        // One of kiosk and four of ops pick "meetings".
        let picks = (team == "kiosk" && newcomers == 0) || (team == "ops" && (1...4).contains(newcomers))
        if picks { newcomers += 1 }
        let remote = SurveyFixture.yes("remote", true)
        let answers = [
          SurveyFixture.number("mood", 7), SurveyFixture.number("tools", 3),
          SurveyFixture.choices("focus", picks ? ["meetings"] : ["code"]), remote,
        ]
        try await SurveyFixture.submit(context.collectorA, token, answers)
      }
      try await SurveyFixture.closeRound(context.clientA, round.id)
      let rows = try await SurveyResultsTests.export(context, survey.id)
      #expect(Set(rows.map(\.segment.team)) == ["kiosk", "ops"], "both teams shown with their label")
      #expect(rows.allSatisfy { $0.withheldQuestionIds == ["focus"] })
    }
  }

  /// Counted per block, not per label: teams x and y (3 each) are one block, w and z another, so
  /// every row is unlabelled, but filtered comments show each block and their texts tell its rows.
  /// The one "no" of block x+y is rare there, though six said no in the round.
  @Test func anAnswerRareInOneBlockIsLeftOutThoughUnlabelledRowsShareIt() async throws {
    try await DataTestContext.with { context in
      let survey = try await context.clientA.unary(SurveyMethods.createSurvey, SurveyFixture.pulse())
      let round = try await SurveyFixture.openRound(context.clientA, survey.id)
      var answering: [(team: String, token: String)] = []
      for (team, invited, answers) in [("x", 3, 3), ("y", 3, 3), ("z", 10, 4), ("w", 10, 7)] {
        let tokens = try await SurveyFixture.tokens(context.clientA, round.id, UInt32(invited), team: team)
        answering += tokens.prefix(answers).map { (team, $0) }
      }
      var seen: [String: Int] = [:]
      for (team, token) in answering {
        let index = seen[team, default: 0]
        seen[team] = index + 1
        let remote = SurveyFixture.yes("remote", !((team == "x" && index == 0) || (team == "w" && index < 5)))
        let answers = [
          SurveyFixture.number("mood", 7), SurveyFixture.number("tools", 3), SurveyFixture.choices("focus", ["code"]),
          remote, SurveyFixture.text("why", "\(team) \(index)"),
        ]
        try await SurveyFixture.submit(context.collectorA, token, answers)
      }
      try await SurveyFixture.closeRound(context.clientA, round.id)
      let rows = try await SurveyResultsTests.export(context, survey.id)
      #expect(rows.count == 17 && rows.allSatisfy { $0.segment.team.isEmpty }, "no team is a block of its own")
      #expect(rows.allSatisfy { $0.withheldQuestionIds == ["remote"] })
    }
  }

  /// A row shows the whole set a respondent chose: "meetings" (5) and "code" (6) are common, but
  /// the one who did not pick "meetings" is alone.
  @Test func aRareSetOfChoicesIsLeftOutThoughEachChoiceIsCommon() async throws {
    try await DataTestContext.with { context in
      let survey = try await context.clientA.unary(SurveyMethods.createSurvey, SurveyFixture.pulse())
      let round = try await SurveyFixture.openRound(context.clientA, survey.id)
      let tokens = try await SurveyFixture.tokens(context.clientA, round.id, 6, team: "core")
      for (index, token) in tokens.enumerated() {
        let remote = SurveyFixture.yes("remote", true)
        let answers = [
          SurveyFixture.number("mood", 7), SurveyFixture.number("tools", 3),
          SurveyFixture.choices("focus", index == 0 ? ["code"] : ["meetings", "code"]), remote,
        ]
        try await SurveyFixture.submit(context.collectorA, token, answers)
      }
      try await SurveyFixture.closeRound(context.clientA, round.id)
      let rows = try await SurveyResultsTests.export(context, survey.id)
      #expect(rows.count == 6 && rows.allSatisfy { $0.withheldQuestionIds == ["focus"] })
      // The results count choices, not sets.
      let results = try await SurveyFixture.results(context.readerA, survey.id)
      let focus = results.questions.first { $0.questionID == "focus" }
      #expect(focus?.distribution.map(\.count) == [5, 6, 0], "\(String(describing: focus))")
    }
  }

  /// GetResults' counts per question, from which the export decides: every value in its order,
  /// yes and no apart, a multiple choice counted per choice, and how many answered each question.
  @Test func resultsCountEachValueOfEachQuestion() async throws {
    try await DataTestContext.with { context in
      let survey = try await context.clientA.unary(SurveyMethods.createSurvey, SurveyFixture.pulse())
      let round = try await SurveyFixture.openRound(context.clientA, survey.id)
      let tokens = try await SurveyFixture.tokens(context.clientA, round.id, 6, team: "core")
      for (index, token) in tokens.enumerated() {
        let remote = SurveyFixture.yes("remote", index < 4)
        let answers = [
          SurveyFixture.number("mood", Int32(index + 4)), SurveyFixture.number("tools", index < 3 ? 5 : 2),
          SurveyFixture.choices("focus", index == 0 ? ["meetings", "docs"] : ["code"]), remote,
        ]
        try await SurveyFixture.submit(context.collectorA, token, answers)
      }
      try await SurveyFixture.closeRound(context.clientA, round.id)
      let results = try await SurveyFixture.results(context.readerA, survey.id)
      func counts(_ id: String) -> [String: UInt64] {
        let question = results.questions.first { $0.questionID == id }
        return Dictionary(uniqueKeysWithValues: (question?.distribution ?? []).map { ($0.value, $0.count) })
      }
      #expect(counts("remote") == ["yes": 4, "no": 2])
      #expect(counts("focus") == ["meetings": 1, "code": 5, "docs": 1])
      #expect(counts("tools") == ["1": 0, "2": 3, "3": 0, "4": 0, "5": 3])
      #expect(results.questions.filter { $0.questionID != "why" }.allSatisfy { $0.answers == 6 })
      // Two said no: fewer than the threshold of five, so the export leaves "remote" out too.
      let rows = try await SurveyResultsTests.export(context, survey.id)
      #expect(rows.count == 6 && rows.allSatisfy { $0.withheldQuestionIds == ["focus", "remote"] })
    }
  }
}
