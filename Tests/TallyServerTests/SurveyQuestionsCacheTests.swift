import Foundation
import Testing

@testable import TallyCore

/// The decoded-questions cache: the same answers as decoding, never stale, bounded.
@Suite struct SurveyQuestionsCacheTests {
  private func json(_ questions: [SurveyQuestion]) throws -> String {
    String(decoding: try JSONEncoder().encode(questions), as: UTF8.self)
  }

  private let score = SurveyQuestion(id: "score", type: "nps", text: "How likely…?", required: true, choices: [])
  private let reason = SurveyQuestion(id: "why", type: "text", text: "Why?", required: false, choices: [])

  @Test func aTextDecodesToItsQuestionsFirstAndThereafter() throws {
    let cache = SurveyQuestionsCache(capacity: 4)
    let text = try self.json([self.score, self.reason])
    #expect(try cache.questions(fromJSON: text) == [self.score, self.reason])
    #expect(try cache.questions(fromJSON: text) == [self.score, self.reason])
    #expect(cache.count == 1)
  }

  @Test func changedQuestionsAreNeverAnsweredFromTheOldText() throws {
    let cache = SurveyQuestionsCache(capacity: 4)
    _ = try cache.questions(fromJSON: try self.json([self.score]))
    var required = self.reason
    required.required = true
    #expect(try cache.questions(fromJSON: try self.json([self.score, required])) == [self.score, required])
  }

  @Test func itHoldsAtMostItsCapacityAndRefusesWhatIsNotQuestions() throws {
    let cache = SurveyQuestionsCache(capacity: 2)
    for number in 0..<5 {
      var question = self.score
      question.id = "q\(number)"
      #expect(try cache.questions(fromJSON: try self.json([question])) == [question])
      #expect(cache.count <= 2)
    }
    let before = cache.count
    #expect(throws: DecodingError.self) { try cache.questions(fromJSON: "[{\"id\": 1}]") }
    #expect(cache.count == before, "a text that does not decode is not kept")
  }
}
