import Foundation
import Testing

@testable import TallyCore

/// `AnswerSealingKey` and `AnswerSeal` without a database: keys from text, and what a sealed
/// answer shows and refuses.
struct AnswerSealTests {
  static let response = SealedResponse(
    department: "eng", team: "core", location: nil, tier: nil, score: 9, answers: #"{"reason":"é ✓","score":9}"#)

  @Test func keysAreSixtyFourHexDigitsAndNamedByTheirHashesPrefix() throws {
    // SHA-256 of 32 zero bytes starts 66687aadf862bd77.
    let zero = try AnswerSealingKey(hex: String(repeating: "0", count: 64) + "\n")
    #expect(zero.fingerprint == "66687aadf862bd77" && zero.hex == String(repeating: "0", count: 64))
    #expect(try AnswerSealingKey(hex: String(repeating: "aB", count: 32)).hex == String(repeating: "ab", count: 32))
    let short = #expect(throws: AnswerSealingKey.InvalidKey.self) { try AnswerSealingKey(hex: "abcd") }
    #expect(short?.message == "must be 64 hexadecimal digits, found 4 characters")
    let wrong = #expect(throws: AnswerSealingKey.InvalidKey.self) {
      try AnswerSealingKey(hex: String(repeating: "g", count: 64))
    }
    #expect(wrong?.message == "must be 64 hexadecimal digits (0-9, a-f)")
    let missing = #expect(throws: AnswerSealingKey.InvalidKey.self) {
      try AnswerSealingKey(contentsOfFile: "/nonexistent/answer-sealing.key")
    }
    #expect(
      missing?.message.hasPrefix("cannot read the answer-sealing key file /nonexistent/answer-sealing.key") == true)
    #expect(AnswerSealingKey.random().hex != AnswerSealingKey.random().hex)
  }

  @Test func aSealedAnswerOpensWithItsKeyAndRoundOnly() throws {
    let key = AnswerSealingKey.random()
    let round = UUID().uuidString.lowercased()
    let sealed = try AnswerSeal.seal(Self.response, round: round, key: key)
    #expect(try AnswerSeal.open(sealed, round: round, key: key) == Self.response)
    // Nothing of the answer is readable in the sealed bytes, and two seals of one answer differ.
    #expect(sealed.range(of: Data("core".utf8)) == nil && sealed.range(of: Data("reason".utf8)) == nil)
    #expect(try AnswerSeal.seal(Self.response, round: round, key: key) != sealed)

    #expect(throws: AnswerSeal.SealError.doesNotOpen) {
      try AnswerSeal.open(sealed, round: round, key: AnswerSealingKey.random())
    }
    #expect(throws: AnswerSeal.SealError.doesNotOpen) {
      try AnswerSeal.open(sealed, round: UUID().uuidString.lowercased(), key: key)
    }
    var changed = sealed
    changed[changed.startIndex + 20] ^= 1
    #expect(throws: AnswerSeal.SealError.doesNotOpen) { try AnswerSeal.open(changed, round: round, key: key) }
    #expect(throws: AnswerSeal.SealError.doesNotOpen) { try AnswerSeal.open(Data([1, 2, 3]), round: round, key: key) }
  }

  @Test func sealedAnswersComeInPowerOfTwoSizes() throws {
    #expect(AnswerSeal.paddedLength(0) == 256 && AnswerSeal.paddedLength(252) == 256)
    #expect(AnswerSeal.paddedLength(253) == 512 && AnswerSeal.paddedLength(5_000) == 8_192)
    let key = AnswerSealingKey.random()
    var long = Self.response
    long.answers = #"{"reason":""# + String(repeating: "x", count: 120) + #""}"#
    // Nonce (12 bytes) + the padded content + the tag (16): short and longer answers look alike.
    let sizes = try [Self.response, long].map { try AnswerSeal.seal($0, round: "r", key: key).count }
    #expect(sizes == [284, 284])
  }

  @Test func everyAnswerOfASurveySealsToOneSizeUnlessItsTextIsLongAndFarFromASCII() throws {
    let questions = [
      SurveyQuestion(id: "score", type: "nps", text: "?", required: true, choices: []),
      SurveyQuestion(id: "reason", type: "text", text: "?", required: false, choices: []),
    ]
    let floor = AnswerSeal.paddingFloor(questions)
    let key = AnswerSealingKey.random()
    func size(_ comment: String?, team: String = "core") throws -> Int {
      var answers = #"{"score":10"#
      if let comment { answers += #","reason":""# + comment + #"""# }
      let response = SealedResponse(
        department: nil, team: team, location: nil, tier: 3, score: 10, answers: answers + "}")
      return try AnswerSeal.seal(response, round: "r", key: key, floor: floor).count
    }
    // No comment, a short one, the longest in ASCII: 2,112 bytes of padded content (2,050 for the
    // answers, 4 for the team's name, in steps of 64), 2,140 sealed.
    let longest = String(repeating: "x", count: ResponseAnswers.maxTextLength)
    #expect(floor == 2_050)
    #expect(try [size(nil), size("short"), size(longest)] == [2_140, 2_140, 2_140])
    // A segment's names are on its invitation in the clear; their length shows, the answer's does not.
    let named = String(repeating: "s", count: 100)
    #expect(try [size(nil, team: named), size(longest, team: named)] == [2_204, 2_204])
    // 2,000 two-byte characters need more: the next power of two.
    #expect(try size(String(repeating: "é", count: ResponseAnswers.maxTextLength)) == 4_252)
  }

  /// Answers as SubmitResponse stores them: the longest text, written with line breaks, tabs,
  /// quotes and backslashes (each two bytes in JSON), and the longest single choice seal to the
  /// size of the shortest answers, and open to the same JSON.
  @Test func escapesAndLongChoicesTakeNoMoreRoom() throws {
    let likert = ["Agree", "Neither agree nor disagree", "Disagree"]
    let questions =
      [SurveyQuestion(id: "reason", type: "text", text: "?", required: false, choices: [])]
      + (1...10).map { SurveyQuestion(id: "q\($0)", type: "single_choice", text: "?", required: true, choices: likert) }
    let floor = AnswerSeal.paddingFloor(questions)
    let key = AnswerSealingKey.random()
    func sealed(_ comment: String?, choice: String) throws -> (size: Int, json: String, opened: String) {
      var answers = (1...10).map { SurveyFixture.choices("q\($0)", [choice]) }
      if let comment { answers.append(SurveyFixture.text("reason", comment)) }
      let json = try ResponseAnswers(validating: answers, questions: questions).json
      let response = SealedResponse(department: nil, team: "core", location: nil, tier: nil, score: nil, answers: json)
      let bytes = try AnswerSeal.seal(response, round: "r", key: key, floor: floor)
      return (bytes.count, json, try AnswerSeal.open(bytes, round: "r", key: key).answers)
    }
    let marks = String(repeating: "a\n\t\"\\", count: ResponseAnswers.maxTextLength / 5)
    // A browser's text box sends CRLF line breaks: 2,000 code points of them, as many lines as fit.
    let lines = String(repeating: "a\r\n", count: ResponseAnswers.maxTextLength / 3)
    let answers = try [
      sealed(nil, choice: "Agree"), sealed(marks, choice: "Neither agree nor disagree"),
      sealed(lines, choice: "Neither agree nor disagree"),
    ]
    #expect(Set(answers.map(\.size)).count == 1, "\(answers.map(\.size))")
    #expect(answers.allSatisfy { $0.opened == $0.json })
    #expect(answers[1].json.contains(#"a\n\t\"\\"#))
    #expect(answers[2].json.contains(#"a\r\na\r\n"#))
    // Answers sealed before escapes were compacted hold no control bytes: they open unchanged.
    #expect(AnswerSeal.expandingEscapes(answers[1].json) == answers[1].json)
  }
}
