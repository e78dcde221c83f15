import Foundation
import Synchronization
public import TallyStore

/// A transaction of the test's own that keeps what its statements took (row locks, say) until
/// `release()`: a test starts the call it races against it once it holds them, not after a sleep
/// that a loaded machine outlasts.
public struct HeldTransaction: Sendable {
  private final class Flags: Sendable {
    let state = Mutex((held: false, released: false, ended: false))
  }

  private let flags = Flags()
  private let transaction: Task<Void, any Error>

  /// Runs `statements` in a transaction of `pool` for `tenant`, and returns once they have run;
  /// the transaction then waits for `release()` (60 s at the most) and runs `beforeCommit`.
  public init(
    _ pool: PostgresPool, tenant: String?, _ statements: @escaping @Sendable (PostgresConnection) throws -> Void,
    beforeCommit: @escaping @Sendable (PostgresConnection) throws -> Void = { _ in }
  ) async throws {
    let flags = self.flags
    self.transaction = Task {
      defer { flags.state.withLock { $0.ended = true } }
      try await pool.withTransaction(tenant: tenant) { connection in
        try statements(connection)
        flags.state.withLock { $0.held = true }
        let deadline = ContinuousClock.now + .seconds(60)
        while !flags.state.withLock({ $0.released }), ContinuousClock.now < deadline {
          Thread.sleep(forTimeInterval: 0.005)
        }
        try beforeCommit(connection)
      }
    }
    _ = try await waitUntil(timeout: .seconds(30), every: .milliseconds(5)) {
      flags.state.withLock { $0.held || $0.ended }
    }
    guard flags.state.withLock({ $0.held }) else {
      if flags.state.withLock({ $0.ended }) { try await self.transaction.value }  // its statements' error
      throw HeldTransactionError()
    }
  }

  /// Lets the transaction go on to `beforeCommit` and commit, and waits until it has.
  public func release() async throws {
    self.flags.state.withLock { $0.released = true }
    try await self.transaction.value
  }
}

struct HeldTransactionError: Error, CustomStringConvertible {
  var description: String { "the held transaction's statements did not run within 30 s" }
}
