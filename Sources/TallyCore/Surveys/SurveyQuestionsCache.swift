import Foundation
import NIOConcurrencyHelpers

/// Survey questions decoded from their stored JSON, kept by that text: SubmitResponse reads a
/// survey's questions with every batch, and decoding them took 8.5 % of tallyd's CPU when each
/// batch held one answer (docs/BENCHMARKS.md). Keyed by the text's bytes, so a changed survey can
/// never be answered against stale questions, and one tenant's spelling is never served for
/// another's (the cache is the process's: `String` keys equated "é" with "e" + U+0301).
struct SurveyQuestionsCache: Sendable {
  /// Texts kept at most; past it the cache starts over (10 questions at most per survey).
  let capacity: Int
  private let entries = NIOLockedValueBox<[ExactID: [SurveyQuestion]]>([:])

  static let shared = SurveyQuestionsCache(capacity: 256)

  init(capacity: Int) {
    precondition(capacity >= 1, "a cache holds at least one entry")
    self.capacity = capacity
  }

  func questions(fromJSON text: String) throws -> [SurveyQuestion] {
    let key = ExactID(text)
    if let cached = self.entries.withLockedValue({ $0[key] }) { return cached }
    let questions = try JSONDecoder().decode([SurveyQuestion].self, from: Data(text.utf8))
    self.entries.withLockedValue { entries in
      if entries.count >= self.capacity { entries.removeAll(keepingCapacity: true) }
      entries[key] = questions
    }
    return questions
  }

  /// Texts held now (for tests).
  var count: Int { self.entries.withLockedValue { $0.count } }
}
