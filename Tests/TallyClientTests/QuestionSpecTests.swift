import TallyClient
import TallyProto
import Testing

@Suite struct QuestionSpecTests {
  @Test func aTextMayHoldColons() throws {
    let plain = try QuestionSpec.parse("text:Why? Say it: in a word")
    #expect((plain.type, plain.text, plain.required, plain.choices) == ("text", "Why? Say it: in a word", false, []))
    let required = try QuestionSpec.parse("nps!:How likely: 0 to 10?")
    #expect((required.type, required.text, required.required) == ("nps", "How likely: 0 to 10?", true))
  }

  /// A choice question's text ends at its first plain colon; its choices may hold colons.
  @Test func choicesFollowTheTextsFirstPlainColon() throws {
    let times = try QuestionSpec.parse("single_choice!:When?:9:00|13:30|Evening")
    #expect((times.type, times.text, times.choices) == ("single_choice", "When?", ["9:00", "13:30", "Evening"]))
    let escaped = try QuestionSpec.parse(#"multi_choice:Office\: which one?:Berlin|Paris"#)
    #expect((escaped.text, escaped.choices) == ("Office: which one?", ["Berlin", "Paris"]))
    let noChoices = try QuestionSpec.parse("multi_choice:Which?")
    #expect((noChoices.text, noChoices.choices) == ("Which?", []))
  }

  @Test func aSpecWithoutATypeIsRefused() {
    for bad in ["", "no colon", ":text only"] {
      #expect(throws: QuestionSpec.Problem.self) { try QuestionSpec.parse(bad) }
    }
  }
}
