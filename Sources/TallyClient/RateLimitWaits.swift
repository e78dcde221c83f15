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

  /// Runs `operation`, and runs it again after each rate refusal, within `budget`. For calls that
  /// may be sent again as they are, like a client stream of idempotent rows: a refused call never
  /// started, so nothing of it was stored. (Unary and server-streaming calls wait by themselves.)
  public static func retrying<T>(budget: Duration, _ operation: () async throws -> T) async throws -> T {
    var waits = RateLimitWaits(budget: budget)
    while true {
      do {
        return try await operation()
      } catch {
        guard let wait = waits.wait(after: error) else { throw error }
        try await Self.sleep(for: wait)
      }
    }
  }

  /// Waits before an attempt. A caller cancelled meanwhile gets CANCELLED, as from a call that
  /// was under way, not the sleep's CancellationError.
  static func sleep(for wait: Duration) async throws {
    do {
      try await Task.sleep(for: wait)
    } catch {
      throw RPCError(code: .cancelled, message: "the call was cancelled while it waited to be sent again")
    }
  }
}
