import Foundation

/// Runs blocking work (libpq calls, migrations, initdb) on a thread of its own, at most two at a
/// time. Swift's cooperative pool has one thread per core, two here: tests blocking in it for
/// seconds stalled every other test, and tests with deadlines then failed for want of a thread;
/// unbounded, dozens of migrations at once overload PostgreSQL on two cores instead.
public func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
  try await withCheckedThrowingContinuation { continuation in
    Thread {
      blockingWork.wait()
      defer { blockingWork.signal() }
      continuation.resume(with: Result { try body() })
    }.start()
  }
}

private let blockingWork = DispatchSemaphore(value: 2)
