import TallyWire

/// The waits before sending again a call its tenant's rate refused (RESOURCE_EXHAUSTED with
/// `retry_after_ms`: such a call never started, PROTOCOL.md §5), within a budget for one call.
public struct RateLimitWaits: Sendable {
  public let budget: Duration
  public private(set) var waited: Duration = .zero

  public init(budget: Duration) { self.budget = budget }

  /// How long to wait before the next attempt; nil when `error` is not a rate refusal or the wait
  /// would pass the budget (then the caller gives up with `error`).
  public mutating func wait(after error: any Error) -> Duration? {
    guard let error = error as? RPCError, error.code == .resourceExhausted, let wait = error.retryAfter,
      self.waited + wait <= self.budget
    else { return nil }
    self.waited += wait
    return wait
  }
}
