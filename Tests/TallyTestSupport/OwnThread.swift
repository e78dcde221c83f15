import Foundation

/// Runs blocking work (libpq calls, migrations, initdb) on a thread of its own, at most two at a
/// time. Swift's cooperative pool has one thread per core, two here: tests blocking in it for
/// seconds stalled every other test, and tests with deadlines then failed for want of a thread;
/// unbounded, dozens of migrations at once overload PostgreSQL on two cores instead.
/// `body` still runs in the calling task (its executor preference), so an `#expect` in it is
/// reported as the test's own, not as an issue of no test.
public func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
  try await withTaskExecutorPreference(BlockingWorkExecutor.shared) { try body() }
}

/// Runs each job on a new thread, at most two at a time.
private final class BlockingWorkExecutor: TaskExecutor {
  static let shared = BlockingWorkExecutor()
  private let slots = DispatchSemaphore(value: 2)

  func enqueue(_ job: consuming ExecutorJob) {
    let job = UnownedJob(job)
    Thread {
      self.slots.wait()
      defer { self.slots.signal() }
      job.runSynchronously(on: self.asUnownedTaskExecutor())
    }.start()
  }
}
