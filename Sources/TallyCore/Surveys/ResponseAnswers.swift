import Foundation
import TallyProto
import TallyWire

/// A response's answers checked against the survey's questions, ready to store.
struct ResponseAnswers: Sendable {
  static let maxTextLength = 2_000

  /// {"question id": number | [choices] | "text" | true/false}, keys sorted.
  let json: String
  /// The answer to the survey's first nps question.
  let score: Int?

  /// Checks every answer (known question, at most once, the value its type allows) and that every
  /// required question is answered; throws all violations at once.
  init(validating answers: [Tally_V1_Answer], questions: [SurveyQuestion]) throws {
    var checker = FieldChecker()
    let byID = Dictionary(questions.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
    var values: [String: String] = [:]
    for (index, answer) in answers.enumerated() {
      let field = "answers[\(index)]"
      guard let question = byID[answer.questionID] else {
        checker.add(
          field + ".question_id",
          "\"\(answer.questionID.prefix(70))\" is not a question of this survey (\(questions.map(\.id).joined(separator: ", ")))"
        )
        continue
      }
      guard values[question.id] == nil else {
        checker.add(field + ".question_id", "\"\(question.id)\" is answered twice")
        continue
      }
      if let value = Self.check(answer, question, field, &checker) { values[question.id] = value }
    }
    for question in questions where question.required && values[question.id] == nil {
      checker.add("answers", "question \"\(question.id)\" is required")
    }
    try checker.check()
    var json = "{"
    for (index, key) in values.keys.sorted().enumerated() {
      if index > 0 { json += "," }
      JSONMap.appendQuoted(key, to: &json)
      json += ":" + values[key]!
    }
    self.json = json + "}"
    let scoreID = questions.first { $0.type == "nps" }?.id
    self.score = scoreID.flatMap { values[$0] }.flatMap { Int($0) }
  }

  /// The answer as a JSON value, or nil after recording why it is refused.
  private static func check(
    _ answer: Tally_V1_Answer, _ question: SurveyQuestion, _ field: String, _ checker: inout FieldChecker
  ) -> String? {
    switch (question.type, answer.value) {
    case ("nps", .number(let number)), ("rating", .number(let number)):
      let range = question.type == "nps" ? 0...10 : 1...5
      guard range.contains(Int(number)) else {
        checker.add(field + ".number", "must be \(range.lowerBound) to \(range.upperBound), got \(number)")
        return nil
      }
      return String(number)
    case ("single_choice", .choices(let choices)), ("multi_choice", .choices(let choices)):
      let picked = choices.values
      if question.type == "single_choice", picked.count != 1 {
        checker.add(field + ".choices", "must be exactly one choice, got \(picked.count)")
        return nil
      }
      if picked.isEmpty || Set(picked).count != picked.count {
        checker.add(field + ".choices", "must be one or more distinct choices")
        return nil
      }
      var indices: [Int] = []
      for value in picked {
        guard let index = question.choices.firstIndex(of: value) else {
          checker.add(
            field + ".choices", "\"\(value.prefix(100))\" is not one of \(question.choices.joined(separator: ", "))")
          return nil
        }
        indices.append(index)
      }
      // The survey's own spelling, in the question's order: a look-alike spelling or an order of
      // its own would mark the answers of one client (one person) in an anonymous export.
      var json = "["
      for (index, value) in indices.sorted().map({ question.choices[$0] }).enumerated() {
        if index > 0 { json += "," }
        JSONMap.appendQuoted(value, to: &json)
      }
      return json + "]"
    case ("yes_no", .yes(let yes)):
      return yes ? "true" : "false"
    case ("text", .text(let text)):
      if text.count > Self.maxTextLength || text.isEmpty {
        checker.add(field + ".text", "must be 1 to \(Self.maxTextLength) characters, got \(text.count)")
        return nil
      }
      if text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
        checker.add(field + ".text", "must not be only white space (leave the question out to skip it)")
        return nil
      }
      let before = checker.violations.count
      checker.text(text, field + ".text", max: Self.maxTextLength, multiline: true)
      guard checker.violations.count == before else { return nil }
      var json = ""
      JSONMap.appendQuoted(text, to: &json)
      return json
    default:
      let expected =
        switch question.type {
        case "nps", "rating": "number"
        case "single_choice", "multi_choice": "choices"
        case "yes_no": "yes"
        default: "text"
        }
      checker.add(field, "question \"\(question.id)\" (\(question.type)) takes its answer in `\(expected)`")
      return nil
    }
  }
}
