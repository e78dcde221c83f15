public import TallyProto

/// `tally surveys create --question`: TYPE:TEXT, TYPE!:TEXT when required, and
/// TYPE:TEXT:CHOICE|CHOICE|… for the choice types. A text runs to the end and may hold colons,
/// except in a choice question, where `\:` is a colon of the text and the first plain colon
/// ends it (the choices may hold colons: `single_choice:When?:9:00|13:30`).
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
    guard Self.choiceTypes.contains(question.type) else {
      question.text = String(rest)
      return question
    }
    var text = ""
    var index = rest.startIndex
    while index < rest.endIndex, rest[index] != ":" {
      let next = rest.index(after: index)
      if rest[index] == "\\", next < rest.endIndex, rest[next] == ":" {
        text.append(":")
        index = rest.index(after: next)
      } else {
        text.append(rest[index])
        index = next
      }
    }
    question.text = text
    if index < rest.endIndex {
      question.choices = rest[rest.index(after: index)...].split(separator: "|").map(String.init)
    }
    return question
  }
}
