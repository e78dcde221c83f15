import TallyClient
import TallyProto
import Testing

@Suite struct QuestionSpecTests {
  @Test func textMayHoldColonsAndChoicesFollowTheLastOne() throws {
    let plain = try QuestionSpec.parse("text:Why? Say it: in a word")
    #expect((plain.type, plain.text, plain.required, plain.choices) == ("text", "Why? Say it: in a word", false, []))
    let required = try QuestionSpec.parse("nps!:How likely: 0 to 10?")
    #expect((required.type, required.text, required.required) == ("nps", "How likely: 0 to 10?", true))
    let choice = try QuestionSpec.parse("single_choice!:Office: which one?:Berlin|Paris")
    #expect((choice.type, choice.text, choice.choices) == ("single_choice", "Office: which one?", ["Berlin", "Paris"]))
    let noChoices = try QuestionSpec.parse("multi_choice:Which?")
    #expect((noChoices.text, noChoices.choices) == ("Which?", []))
  }

  @Test func aSpecWithoutATypeIsRefused() {
    for bad in ["", "no colon", ":text only"] {
      #expect(throws: QuestionSpec.Problem.self) { try QuestionSpec.parse(bad) }
    }
  }
}
