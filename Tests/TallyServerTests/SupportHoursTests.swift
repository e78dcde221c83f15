import TallyProto
import TallyTestSupport
import Testing

@testable import TallyCore

/// How long support questions stay open, as the account health score reads it.
@Suite struct SupportHoursTests {
  /// Answers close the oldest open question first; what stays open counts until `as_of`.
  @Test func answersCloseTheOldestOpenQuestion() {
    var account = Tally_V1_AccountHealth()
    let hour = 3_600.0
    let events: [(question: Bool, at: Double)] = [
      (true, 0), (true, hour), (false, 2 * hour), (true, 3 * hour), (false, 5 * hour), (false, 6 * hour),
      (true, 7 * hour),
    ]
    AccountHealthScore.addSupport(events, since: 0, openUntil: 10 * hour, to: &account)
    // Closed: 0→2 h, 1→5 h, 3→6 h (2 + 4 + 3); open: 7 h → 10 h (3); 12 hours over 4 questions.
    #expect(account.supportQuestions == 4)
    #expect(account.supportOpen == 1)
    #expect(account.supportOpenHours == 3)
  }

  /// An answer closes the oldest open question even when it was asked before the window: the
  /// window's question stays open (it closed the window's question, one hour, before).
  @Test func anAnswerClosesAQuestionAskedBeforeTheWindow() {
    var account = Tally_V1_AccountHealth()
    let hour = 3_600.0
    let events: [(question: Bool, at: Double)] = [(true, 0), (true, 100 * hour), (false, 101 * hour)]
    AccountHealthScore.addSupport(events, since: 50 * hour, openUntil: 110 * hour, to: &account)
    #expect(account.supportQuestions == 1 && account.supportOpen == 1 && account.supportOpenHours == 10)
  }

  /// A tenant's events set the count: 300,000 questions and their answers are paired in linear
  /// time (taking the first of an array each time moved the rest: quadratic, 5 s in a debug build).
  @Test func manyAnswersArePairedInLinearTime() {
    let count = 300_000
    let events = (0..<count).map { (question: true, at: Double($0)) } + (0..<count).map { (false, Double(count + $0)) }
    var account = Tally_V1_AccountHealth()
    let ((), took) = threadCPUTime {
      AccountHealthScore.addSupport(events, since: 0, openUntil: Double(3 * count), to: &account)
    }
    #expect(account.supportOpen == 0 && account.supportQuestions == UInt64(count))
    #expect(abs(account.supportOpenHours - Double(count) / 3_600) < 1e-6)
    #expect(took < .seconds(2), "paired in \(took) of CPU")
  }
}
