import SwiftProtobuf
import TallyClient
import TallyProto
import Testing

@Suite struct TextChartTests {
  @Test func sparklinesUseAFixedScaleAndMarkGaps() {
    #expect(TextChart.sparkline([-100, 0, 100, nil, 250], range: -100...100) == "▁▅█·█")
    #expect(TextChart.sparkline([], range: -100...100).isEmpty)
    #expect(TextChart.sparkline([.nan], range: 0...1) == "·")
    #expect(TextChart.sparkline([1, -1], range: -Double.infinity...Double.infinity) == "▅▅")
  }

  @Test func barsScaleToTheLargestCountInEighths() {
    #expect(TextChart.bar(8, maximum: 8, width: 4) == "████")
    #expect(TextChart.bar(4, maximum: 8, width: 4) == "██")
    #expect(TextChart.bar(5, maximum: 8, width: 4) == "██▌")
    #expect(TextChart.bar(0, maximum: 8, width: 4).isEmpty)
    // A count too small for an eighth still shows.
    #expect(TextChart.bar(1, maximum: 1_000, width: 4) == "▏")
    // More than the maximum (a server's mistake) fills the width, however large.
    #expect(TextChart.bar(.max, maximum: 1, width: 4) == "████")
  }

  @Test func scoreBarsDrawNothingForNegativeOrNonFiniteScores() {
    #expect(TextChart.bar(score: 50, maximum: 100, width: 4) == "██")
    #expect(TextChart.bar(score: 1e300, maximum: 100, width: 4) == "████")
    #expect(TextChart.bar(score: .infinity, maximum: 100, width: 4).isEmpty)
    #expect(TextChart.bar(score: .nan, maximum: 100, width: 4).isEmpty)
    #expect(TextChart.bar(score: -5, maximum: 100, width: 4).isEmpty)
    #expect(TextChart.bar(score: 1e30, maximum: .max, width: 4) == "████")
  }
}

@Suite struct SurveyReportTests {
  static func cell(score: Double, responses: UInt64, distribution: [UInt64]) -> Tally_V1_ResultCell {
    var cell = Tally_V1_ResultCell()
    cell.score = score
    cell.responses = responses
    cell.invitations = responses * 2
    cell.responseRate = 0.5
    cell.marginOfError = 31.3
    cell.promoters = 2
    cell.passives = 1
    cell.detractors = 1
    cell.promoterShare = 0.5
    cell.passiveShare = 0.25
    cell.detractorShare = 0.25
    cell.distribution = distribution
    return cell
  }

  static func round(_ number: UInt32, _ cell: Tally_V1_ResultCell) -> Tally_V1_RoundResult {
    var round = Tally_V1_RoundResult()
    round.number = number
    round.cell = cell
    round.opensAt = Google_Protobuf_Timestamp(seconds: 1_764_547_200)  // 2025-12-01
    return round
  }

  @Test func showsScoreMarginBarsTrendAndSuppressedRounds() {
    var results = Tally_V1_SurveyResults()
    results.kind = "enps"
    results.anonymous = true
    results.anonymityThreshold = 5
    results.overall = Self.cell(score: 25, responses: 4, distribution: [1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 2])
    var suppressed = Tally_V1_ResultCell()
    suppressed.suppressed = true
    suppressed.suppressedReason = "fewer than 5 responses"
    results.trend = [Self.round(1, suppressed), Self.round(2, results.overall)]
    results.change.reason = "round 1 is suppressed"
    results.notes = ["round 1 left out: fewer than 5 responses"]
    var score = Tally_V1_QuestionResult()
    score.questionID = "score"
    score.type = "nps"
    score.answers = 4
    score.average = 6.75
    score.distribution = (0...10).map { value in
      var count = Tally_V1_ValueCount()
      count.value = "\(value)"
      count.count = results.overall.distribution[value]
      return count
    }
    var tools = Tally_V1_QuestionResult()
    tools.questionID = "tools"
    tools.type = "rating"
    tools.suppressed = true
    tools.suppressedReason = "fewer than 5 answers"
    results.questions = [score, tools]
    let lines = SurveyReport.lines(results, title: "Q4")

    #expect(lines[0] == "eNPS survey \"Q4\" (anonymous, shown from 5 responses)")
    #expect(lines.contains("Score     +25.0 ± 31.3 (95 % margin)"))
    #expect(lines.contains("Responses 4 of 8 invited (50 %)"))
    #expect(lines.contains("Promoters 2 (50 %) · passives 1 (25 %) · detractors 1 (25 %)"))
    #expect(lines.contains("Change    none: round 1 is suppressed"))
    // Eleven bars, 0 to 10, the longest for the largest count.
    let bars = lines.filter { $0.contains("│") }
    #expect(bars.count == 11 && bars.first == "   0 │████████████████████ 1" && bars.last?.hasSuffix("█ 2") == true)
    #expect(lines.contains { $0.hasPrefix("Trend     ·▅ ") })
    #expect(lines.contains { $0.hasPrefix("1      2025-12-01  suppressed: fewer than 5 responses") })
    #expect(lines.contains { $0.hasPrefix("2      2025-12-01  4          +25.0  ± 31.3") })
    // The score question's bars are the ones above; a suppressed question says so.
    #expect(lines.contains("  4 answers, average 6.75") && lines.contains("  suppressed: fewer than 5 answers"))
    #expect(lines.last == "Note: round 1 left out: fewer than 5 responses")
    #expect(
      SurveyReport.trendRows(results) == [
        ["round", "opened", "responses", "score", "margin_of_error", "suppressed"],
        ["1", "2025-12-01", "", "", "", "fewer than 5 responses"], ["2", "2025-12-01", "4", "25.0", "31.3", ""],
      ])
  }

  @Test func aSuppressedSelectionShowsNoNumbers() {
    var results = Tally_V1_SurveyResults()
    results.kind = "nps"
    results.overall.suppressed = true
    results.overall.suppressedReason = "the filter covers fewer than 5 respondents"
    let lines = SurveyReport.lines(results, title: "Customers")
    #expect(lines.contains("Suppressed: the filter covers fewer than 5 respondents"))
    #expect(!lines.contains { $0.contains("Score") || $0.contains("│") })
    #expect(lines.contains("No rounds in this selection."))
  }

  @Test func aChangeSaysWhetherItIsBeyondTheMargin() {
    var results = Tally_V1_SurveyResults()
    results.change.available = true
    results.change.roundNumber = 3
    results.change.previousRoundNumber = 2
    results.change.change = -12.5
    results.change.combinedMargin = 10
    results.change.beyondMargin = true
    #expect(
      SurveyReport.lines(results, title: "T").contains(
        "Change    ▼ -12.5 in round 3 against round 2, beyond the ± 10.0 margin"))
  }
}

@Suite struct AnswerInputTests {
  static func question(_ type: String, required: Bool = false, choices: [String] = []) -> Tally_V1_Question {
    var question = Tally_V1_Question()
    question.id = "q"
    question.type = type
    question.text = "How?"
    question.required = required
    question.choices = choices
    return question
  }

  @Test func numbersAreCheckedAgainstTheirRange() throws {
    #expect(try AnswerInput.parse(" 10 ", for: Self.question("nps"))?.number == 10)
    #expect(try AnswerInput.parse("0", for: Self.question("nps"))?.number == 0)
    #expect(throws: AnswerInput.Problem(description: "a whole number from 0 to 10")) {
      try AnswerInput.parse("11", for: Self.question("nps"))
    }
    #expect(throws: AnswerInput.Problem.self) { try AnswerInput.parse("0", for: Self.question("rating")) }
    #expect(throws: AnswerInput.Problem.self) { try AnswerInput.parse("4.5", for: Self.question("rating")) }
  }

  /// A text the server would refuse is asked again, not sent to fail every answer typed.
  @Test func textsAreCheckedAsTheServerChecksThem() throws {
    let text = Self.question("text")
    #expect(try AnswerInput.parse(String(repeating: "é", count: 2_000), for: text)?.text.count == 2_000)
    #expect(throws: AnswerInput.Problem(description: "at most 2,000 characters, got 3000")) {
      try AnswerInput.parse(String(repeating: "👍🏽", count: 1_500), for: text)
    }
    #expect(throws: AnswerInput.Problem.self) { try AnswerInput.parse("fine\u{1B}[31m", for: text) }
    #expect(try AnswerInput.parse("tabs\tare fine", for: text)?.text == "tabs\tare fine")
  }

  @Test func blanksSkipOnlyOptionalQuestions() throws {
    #expect(try AnswerInput.parse("  ", for: Self.question("text")) == nil)
    #expect(throws: AnswerInput.Problem(description: "an answer is required")) {
      try AnswerInput.parse("", for: Self.question("nps", required: true))
    }
  }

  @Test func choicesByNumberOrText() throws {
    let single = Self.question("single_choice", choices: ["Office", "Home"])
    #expect(try AnswerInput.parse("2", for: single)?.choices.values == ["Home"])
    #expect(try AnswerInput.parse("office", for: single)?.choices.values == ["Office"])
    // Choices that differ only in case: the one typed as written, and no guess for another case.
    let cased = Self.question("single_choice", choices: ["Yes", "yes"])
    #expect(try AnswerInput.parse("yes", for: cased)?.choices.values == ["yes"])
    #expect(try AnswerInput.parse("Yes", for: cased)?.choices.values == ["Yes"])
    #expect(throws: AnswerInput.Problem.self) { try AnswerInput.parse("YES", for: cased) }
    #expect(throws: AnswerInput.Problem.self) { try AnswerInput.parse("1,2", for: single) }
    #expect(throws: AnswerInput.Problem.self) { try AnswerInput.parse("3", for: single) }
    let multi = Self.question("multi_choice", choices: ["a", "b", "c"])
    #expect(try AnswerInput.parse("3, a", for: multi)?.choices.values == ["c", "a"])
    #expect(throws: AnswerInput.Problem(description: "each choice at most once")) {
      try AnswerInput.parse("1,a", for: multi)
    }
    #expect(
      AnswerInput.prompt(for: multi) == "How?\n  1) a\n  2) b\n  3) c\n[numbers separated by commas, Enter to skip]")
  }

  /// Numbers past either end of the list, up to Int's own ends, are asked again, not a trap.
  @Test(arguments: ["0", "-1", "3", "-9223372036854775808", "9223372036854775807", "99999999999999999999"])
  func choiceNumbersOutsideTheListAreAskedAgain(_ typed: String) {
    let single = Self.question("single_choice", choices: ["Office", "Home"])
    #expect(throws: AnswerInput.Problem(description: "\"\(typed)\" is not one of the choices 1 to 2")) {
      try AnswerInput.parse(typed, for: single)
    }
    #expect(throws: AnswerInput.Problem(description: "\"#\(typed)\" is not one of the choices 1 to 2")) {
      try AnswerInput.parse("#\(typed)", for: single)
    }
  }

  /// A list whose choices are numbers ("How many reports? 3, 5, 10"): "3" is the choice 3, not the
  /// third one, which is "#3"; the prompt numbers the list with # so that no one guesses.
  @Test func choicesThatAreNumbersAreTypedAsWritten() throws {
    let single = Self.question("single_choice", choices: ["3", "5", "10", "more"])
    #expect(try AnswerInput.parse("3", for: single)?.choices.values == ["3"])
    #expect(try AnswerInput.parse("#3", for: single)?.choices.values == ["10"])
    #expect(try AnswerInput.parse("MORE", for: single)?.choices.values == ["more"])
    #expect(throws: AnswerInput.Problem(description: "\"2\" is not one of the choices #1 to #4")) {
      try AnswerInput.parse("2", for: single)
    }
    #expect(throws: AnswerInput.Problem(description: "\"#5\" is not one of the choices #1 to #4")) {
      try AnswerInput.parse("#5", for: single)
    }
    let multi = Self.question("multi_choice", choices: ["1", "2", "#1"])
    #expect(
      try AnswerInput.parse("2, #1", for: multi)?.choices.values == ["2", "#1"], "a choice written with # is its text")
    #expect(try AnswerInput.parse("#2,1", for: multi)?.choices.values == ["2", "1"])
    #expect(
      AnswerInput.prompt(for: single)
        == "How?\n  #1) 3\n  #2) 5\n  #3) 10\n  #4) more\n[one #number or choice, Enter to skip]")
    #expect(AnswerInput.prompt(for: multi).hasSuffix("[#numbers or choices separated by commas, Enter to skip]"))
    // Any list takes "#2" for its second choice too.
    #expect(
      try AnswerInput.parse("#2", for: Self.question("single_choice", choices: ["Office", "Home"]))?.choices.values == [
        "Home"
      ])
  }

  @Test func yesNoAndText() throws {
    #expect(try AnswerInput.parse("Y", for: Self.question("yes_no"))?.yes == true)
    #expect(try AnswerInput.parse("no", for: Self.question("yes_no"))?.yes == false)
    #expect(throws: AnswerInput.Problem.self) { try AnswerInput.parse("maybe", for: Self.question("yes_no")) }
    #expect(try AnswerInput.parse("Fine.", for: Self.question("text"))?.text == "Fine.")
    let long = String(repeating: "x", count: 2_001)
    #expect(throws: AnswerInput.Problem(description: "at most 2,000 characters, got 2001")) {
      try AnswerInput.parse(long, for: Self.question("text"))
    }
  }
}
