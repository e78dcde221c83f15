public import TallyProto

/// `tally surveys create --question`: TYPE:TEXT, TYPE!:TEXT when required, and
/// TYPE:TEXT:CHOICE|CHOICE|… for the choice types. The text runs to the end (it may hold colons)
/// except in a choice question, whose choices follow its last colon.
public enum QuestionSpec {
  /// Why a spec could not be read, in words for the command line.
  public struct Problem: Error, Equatable, CustomStringConvertible {
    public let description: String
  }

  static let choiceTypes: Set<String> = ["single_choice", "multi_choice"]

  public static func parse(_ spec: String) throws(Problem) -> Tally_V1_Question {
    guard let colon = spec.firstIndex(of: ":"), colon != spec.startIndex else {
      throw Problem(description: "--question takes TYPE:TEXT (or TYPE:TEXT:CHOICE|CHOICE), got \"\(spec)\"")
    }
    var question = Tally_V1_Question()
    let type = String(spec[..<colon])
    question.required = type.hasSuffix("!")
    question.type = question.required ? String(type.dropLast()) : type
    let rest = spec[spec.index(after: colon)...]
    if Self.choiceTypes.contains(question.type), let last = rest.lastIndex(of: ":") {
      question.text = String(rest[..<last])
      question.choices = rest[rest.index(after: last)...].split(separator: "|").map(String.init)
    } else {
      question.text = String(rest)
    }
    return question
  }
}
