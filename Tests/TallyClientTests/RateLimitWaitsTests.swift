import TallyClient
import TallyWire
import Testing

/// Which refusals a client sends again after a wait, and for how long in all.
@Suite struct RateLimitWaitsTests {
  private func refusal(_ code: RPCError.Code = .resourceExhausted, retryAfter: Duration?) -> RPCError {
    RPCError(code: code, message: "over the limit", retryAfter: retryAfter)
  }

  @Test func aRateRefusalIsWaitedOutWithinTheBudget() {
    var waits = RateLimitWaits(budget: .seconds(1))
    #expect(waits.wait(after: self.refusal(retryAfter: .milliseconds(400))) == .milliseconds(400))
    #expect(waits.wait(after: self.refusal(retryAfter: .milliseconds(600))) == .milliseconds(600))
    #expect(waits.waited == .seconds(1))
    #expect(waits.wait(after: self.refusal(retryAfter: .milliseconds(1))) == nil, "the budget is spent")
  }

  @Test func otherErrorsAreNotSentAgain() {
    var waits = RateLimitWaits(budget: .seconds(30))
    // RESOURCE_EXHAUSTED without retry_after (a stream limit, a message too large) is final.
    #expect(waits.wait(after: self.refusal(retryAfter: nil)) == nil)
    // So is UNAVAILABLE with one: whether to repeat that call is its caller's judgement.
    #expect(waits.wait(after: self.refusal(.unavailable, retryAfter: .seconds(1))) == nil)
    #expect(waits.wait(after: CancellationError()) == nil)
    #expect(waits.waited == .zero)
  }

  /// A caller cancelled while it waits out a refusal gets CANCELLED at once, like any cancelled call.
  @Test func aCallCancelledWhileItWaitsIsCancelledAtOnce() async throws {
    let attempts = AttemptCount()
    let waiting = Task {
      try await RateLimitWaits.retrying(budget: .seconds(60)) {
        await attempts.add()
        throw self.refusal(retryAfter: .seconds(30))
      }
    }
    while await attempts.value == 0 { await Task.yield() }
    let cancelledAt = ContinuousClock.now
    waiting.cancel()
    let result = await waiting.result
    #expect(ContinuousClock.now - cancelledAt < .seconds(5))
    guard case .failure(let error as RPCError) = result else {
      Issue.record("expected CANCELLED, got \(result)")
      return
    }
    #expect(error.code == .cancelled)
    #expect(await attempts.value == 1)
  }
}

private actor AttemptCount {
  var value = 0
  func add() { self.value += 1 }
}
