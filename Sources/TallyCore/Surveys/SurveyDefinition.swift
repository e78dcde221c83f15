import Foundation
import TallyProto
import TallyWire

/// A question as stored in `surveys.questions`.
struct SurveyQuestion: Codable, Sendable, Hashable {
  static let types = ["nps", "rating", "single_choice", "multi_choice", "yes_no", "text"]

  var id: String
  var type: String
  var text: String
  var required: Bool
  var choices: [String]

  var message: Tally_V1_Question {
    var question = Tally_V1_Question()
    question.id = self.id
    question.type = self.type
    question.text = self.text
    question.required = self.required
    question.choices = self.choices
    return question
  }

  /// Every value the question can take, in display order (for distributions).
  var possibleValues: [String] {
    switch self.type {
    case "nps": (0...10).map(String.init)
    case "rating": (1...5).map(String.init)
    case "yes_no": ["yes", "no"]
    case "single_choice", "multi_choice": self.choices
    default: []
    }
  }
}

/// A validated survey: what CreateSurvey and UpdateSurvey store.
struct SurveyDefinition: Sendable {
  static let kinds = ["nps", "enps", "pulse"]
  static let defaultThreshold = 5

  var kind: String
  var title: String
  var questions: [SurveyQuestion]
  var anonymous: Bool
  var threshold: Int
  var cadence: PulseCadence.Period?
  var openDay: Int?
  var openDays: Int?

  /// The first nps question: its answer is the response's score.
  var scoreQuestionID: String? { self.questions.first { $0.type == "nps" }?.id }

  var questionsJSON: String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = .sortedKeys
    return String(decoding: (try? encoder.encode(self.questions)) ?? Data("[]".utf8), as: UTF8.self)
  }

  static func questions(fromJSON text: String) throws -> [SurveyQuestion] {
    try SurveyQuestionsCache.shared.questions(fromJSON: text)
  }

  /// The most questions a survey has, and so the most answers a response carries.
  static let maxQuestions = 10
  static let maxChoices = 20

  /// Checks every field of `survey` and fills the defaults; throws every violation at once.
  init(validating survey: Tally_V1_Survey, prefix: String = "survey.") throws {
    var checker = FieldChecker(prefix: prefix)
    self.kind = checker.oneOf(survey.kind, "kind", Self.kinds)
    self.title = survey.title
    let titleViolations = Validation.name(survey.title, field: prefix + "title")
    self.anonymous = self.kind == "nps" ? survey.anonymous : true
    var questions = survey.questions.isEmpty ? Self.defaultQuestions(kind: self.kind) : survey.questions
    if questions.count > Self.maxQuestions {
      checker.add("questions", "must be 1 to \(Self.maxQuestions) questions, got \(questions.count)")
    }
    questions = Array(questions.prefix(Self.maxQuestions))
    self.questions = Self.checkQuestions(questions, &checker)
    if self.kind == "nps" || self.kind == "enps" {
      let nps = self.questions.filter { $0.type == "nps" }.count
      let text = self.questions.filter { $0.type == "text" }.count
      if nps != 1 || text > 1 || nps + text != self.questions.count {
        checker.add("questions", "an \(self.kind) survey asks one nps question and at most one text question")
      }
    }
    Self.checkRequired(self.questions, kind: self.kind, anonymous: self.anonymous, &checker)
    if survey.anonymityThreshold == 0 {
      self.threshold = self.anonymous ? Self.defaultThreshold : 0
    } else if survey.anonymityThreshold < 3 || survey.anonymityThreshold > 1_000 {
      checker.add("anonymity_threshold", "must be 3 to 1000, or 0 for the default; got \(survey.anonymityThreshold)")
      self.threshold = Self.defaultThreshold
    } else {
      self.threshold = Int(survey.anonymityThreshold)
    }
    (self.cadence, self.openDay, self.openDays) = Self.checkCadence(survey, kind: self.kind, &checker)
    let violations = titleViolations + checker.violations
    guard violations.isEmpty else { throw RPCError.invalidArgument(violations, omitted: checker.omitted) }
  }

  private static func defaultQuestions(kind: String) -> [Tally_V1_Question] {
    let recommend =
      kind == "enps"
      ? "How likely are you to recommend this company as a place to work?"
      : "How likely are you to recommend us to a friend or colleague?"
    guard kind == "nps" || kind == "enps" else { return [] }
    var score = Tally_V1_Question()
    (score.id, score.type, score.text, score.required) = ("score", "nps", recommend, true)
    var reason = Tally_V1_Question()
    (reason.id, reason.type, reason.text) = ("reason", "text", "What is the main reason for your score?")
    return [score, reason]
  }

  private static func checkQuestions(_ questions: [Tally_V1_Question], _ checker: inout FieldChecker)
    -> [SurveyQuestion]
  {
    if questions.isEmpty { checker.add("questions", "must be 1 to \(Self.maxQuestions) questions, got none") }
    var seen = Set<String>()
    // A question without an id gets q<its position>, or the next q<n> no question of the survey
    // names: a client's own "q2" is not taken from it.
    let given = Set(questions.map(\.id))
    var nextFree = 0
    return questions.enumerated().map { index, question in
      let field = "questions[\(index)]."
      var id = question.id
      if id.isEmpty {
        nextFree = max(nextFree, index + 1)
        while given.contains("q\(nextFree)") || seen.contains("q\(nextFree)") { nextFree += 1 }
        id = "q\(nextFree)"
      }
      if id.count > 64
        || !id.unicodeScalars.allSatisfy({ ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" })
      {
        checker.add(field + "id", "must be 1 to 64 of a-z, 0-9 and _; got \"\(id.prefix(70))\"")
      } else if !seen.insert(id).inserted {
        checker.add(field + "id", "\"\(id)\" is used by an earlier question")
      }
      let type = checker.oneOf(question.type, field + "type", SurveyQuestion.types)
      checker.text(question.text, field + "text", max: 500, required: true)
      if type == "single_choice" || type == "multi_choice" {
        if question.choices.count < 2 || question.choices.count > Self.maxChoices {
          checker.add(field + "choices", "must be 2 to \(Self.maxChoices) choices, got \(question.choices.count)")
        }
        Self.checkChoices(question.choices, field + "choices", &checker)
      } else if !question.choices.isEmpty {
        checker.add(field + "choices", "only single_choice and multi_choice questions have choices")
      }
      return SurveyQuestion(
        id: id, type: type, text: question.text, required: question.required, choices: question.choices)
    }
  }

  /// Each choice is stored in the survey's jsonb and sized into every sealed answer's padding, so it
  /// is checked as text is (code points, no control characters or NUL) and named by its index.
  private static func checkChoices(_ choices: [String], _ field: String, _ checker: inout FieldChecker) {
    // Swift's `==` also matches canonically equivalent spellings, which a respondent cannot tell apart.
    var firstIndex: [String: Int] = [:]
    for (index, choice) in choices.prefix(20).enumerated() {
      checker.text(choice, "\(field)[\(index)]", max: 100, required: true)
      if let first = firstIndex[choice] {
        checker.add("\(field)[\(index)]", "must differ from the other choices; \(field)[\(first)] is the same")
      } else {
        firstIndex[choice] = index
      }
    }
  }

  /// An optional question's answers come from a subset of the respondents, which the threshold and
  /// its blocks (counted in respondents) cannot protect: one answer could be shown alone, or be the
  /// difference between two filters. So an anonymous survey requires every question it scores;
  /// text answers are read as comments of the whole selection and may stay optional.
  private static func checkRequired(
    _ questions: [SurveyQuestion], kind: String, anonymous: Bool, _ checker: inout FieldChecker
  ) {
    for (index, question) in questions.enumerated() where !question.required && question.type != "text" {
      if anonymous {
        checker.add(
          "questions[\(index)].required",
          "must be true for a \(question.type) question of an anonymous survey (only text questions may be optional)")
      } else if question.type == "nps" && (kind == "nps" || kind == "enps") {
        checker.add("questions[\(index)].required", "must be true: the nps question is the survey's score")
      }
    }
  }

  private static func checkCadence(_ survey: Tally_V1_Survey, kind: String, _ checker: inout FieldChecker)
    -> (PulseCadence.Period?, Int?, Int?)
  {
    let cadence = survey.cadence
    guard kind == "pulse" else {
      if survey.hasCadence, cadence != Tally_V1_Cadence() {
        checker.add("cadence", "only pulse surveys have a cadence")
      }
      return (nil, nil, nil)
    }
    let allowed = PulseCadence.Period.allCases.map(\.rawValue)
    guard let period = PulseCadence.Period(rawValue: cadence.period) else {
      checker.oneOf(cadence.period, "cadence.period", allowed)
      return (nil, nil, nil)
    }
    let weekly = period == .weekly || period == .biweekly
    let openDay = cadence.openDay == 0 ? 1 : Int(cadence.openDay)
    if openDay > (weekly ? 7 : 28) {
      checker.add(
        "cadence.open_day",
        weekly
          ? "must be an ISO weekday 1 (Monday) to 7 (Sunday), got \(openDay)"
          : "must be a day of the month 1 to 28, got \(openDay)")
    }
    let openDays = cadence.openDays == 0 ? period.defaultOpenDays : Int(cadence.openDays)
    if openDays > period.minimumDays {
      checker.add(
        "cadence.open_days", "must be 1 to \(period.minimumDays) for a \(period.rawValue) cadence, got \(openDays)")
    }
    return (period, openDay, openDays)
  }
}
