public import TallyProto

/// What a person types for one question in `tally surveys answer`, checked the way the server
/// checks it, so that a typo is asked again instead of failing the whole submission.
public enum AnswerInput {
  /// Why a typed answer was not taken, in words for the prompt.
  public struct Problem: Error, Equatable, CustomStringConvertible {
    public let description: String

    public init(description: String) { self.description = description }
  }

  /// The question as a prompt: its text, then what may be typed.
  public static func prompt(for question: Tally_V1_Question) -> String {
    let optional = question.required ? "" : ", Enter to skip"
    switch question.type {
    case "nps": return "\(question.text) [0–10\(optional)]"
    case "rating": return "\(question.text) [1–5\(optional)]"
    case "yes_no": return "\(question.text) [y/n\(optional)]"
    case "text": return "\(question.text) [text\(optional)]"
    case "single_choice", "multi_choice":
      let mark = Self.choicesAreNumbers(question) ? "#" : ""
      let choices = question.choices.enumerated().map { "  \(mark)\($0 + 1)) \($1)" }.joined(separator: "\n")
      let how =
        switch (question.type == "single_choice", mark.isEmpty) {
        case (true, true): "one number"
        case (false, true): "numbers separated by commas"
        case (true, false): "one #number or choice"
        case (false, false): "#numbers or choices separated by commas"
        }
      return "\(question.text)\n\(choices)\n[\(how)\(optional)]"
    default: return question.text
    }
  }

  /// The answer to `question` from `typed`; nil when a question that is not required is skipped.
  public static func parse(_ typed: String, for question: Tally_V1_Question) throws(Problem) -> Tally_V1_Answer? {
    let text = typed.trimmingWhitespace()
    guard !text.isEmpty else {
      if question.required { throw Problem(description: "an answer is required") }
      return nil
    }
    var answer = Tally_V1_Answer()
    answer.questionID = question.id
    switch question.type {
    case "nps": answer.number = try Self.number(text, 0...10)
    case "rating": answer.number = try Self.number(text, 1...5)
    case "yes_no":
      switch text.lowercased() {
      case "y", "yes": answer.yes = true
      case "n", "no": answer.yes = false
      default: throw Problem(description: "type y or n")
      }
    case "single_choice", "multi_choice":
      var picked: [String] = []
      for part in text.split(separator: ",") {
        picked.append(try Self.choice(String(part).trimmingWhitespace(), question))
      }
      if question.type == "single_choice", picked.count != 1 { throw Problem(description: "pick exactly one") }
      if Set(picked).count != picked.count { throw Problem(description: "each choice at most once") }
      var choices = Tally_V1_Choices()
      choices.values = picked
      answer.choices = choices
    case "text":
      // The server's rules, asked again here rather than failing the whole submission: 2,000
      // characters and 2,000 code points (an emoji with a skin tone is two), no control character.
      let length = max(text.count, text.unicodeScalars.count)
      guard length <= 2_000 else { throw Problem(description: "at most 2,000 characters, got \(length)") }
      guard !text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control && $0 != "\t" }) else {
        throw Problem(description: "no control characters (a pasted escape or bell, say)")
      }
      answer.text = text
    default: throw Problem(description: "this client does not know questions of type \(question.type)")
    }
    return answer
  }

  static func number(_ text: String, _ range: ClosedRange<Int32>) throws(Problem) -> Int32 {
    guard let value = Int32(text), range.contains(value) else {
      throw Problem(description: "a whole number from \(range.lowerBound) to \(range.upperBound)")
    }
    return value
  }

  /// Whether a choice's text is itself a whole number ("3", "10"): then a number typed bare is
  /// that text, never a position, which is typed as "#3" (the prompt numbers the list so).
  static func choicesAreNumbers(_ question: Tally_V1_Question) -> Bool {
    question.choices.contains { Int($0) != nil }
  }

  /// A choice by its number in the list ("2", or "#2" in any list) or by its text: as written,
  /// else in any case when only one choice matches so (a survey may offer "Yes" and "yes"). A
  /// number outside the list (even Int.min, where `index - 1` would trap) is a typo to ask again.
  static func choice(_ text: String, _ question: Tally_V1_Question) throws(Problem) -> String {
    let count = question.choices.count
    let numbersAreText = Self.choicesAreNumbers(question)
    let range = numbersAreText ? "#1 to #\(count)" : "1 to \(count)"
    if text.hasPrefix("#"), !question.choices.contains(text), let index = Int(text.dropFirst()) {
      guard index >= 1, index <= count else {
        throw Problem(description: "\"\(text)\" is not one of the choices \(range)")
      }
      return question.choices[index - 1]
    }
    if !numbersAreText, let index = Int(text), index >= 1, index <= count { return question.choices[index - 1] }
    if question.choices.contains(text) { return text }
    let matches = question.choices.filter { $0.lowercased() == text.lowercased() }
    if matches.count == 1 { return matches[0] }
    if matches.count > 1 {
      let named = matches.map { "\"\($0)\"" }.joined(separator: ", ")
      throw Problem(
        description: "\"\(text)\" matches the choices \(named) but for case: type one as written, or its number")
    }
    throw Problem(description: "\"\(text)\" is not one of the choices \(range)")
  }
}

extension String {
  fileprivate func trimmingWhitespace() -> String {
    String(self.drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
  }
}
