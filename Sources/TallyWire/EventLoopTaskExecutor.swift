public import NIOCore

/// Runs tasks on a connection's event loop instead of Swift's global pool: the server's handler
/// tasks, and the tasks of a client that prefer its connection's loop (`TallyClient.connectionExecutor`).
///
/// A call then costs no thread hop and no wake-up between the loop that read a message and the
/// task that acts on it (docs/BENCHMARKS.md measured those hops as most of a small call's time).
/// Such tasks must never block: the server's libpq work runs on the pool's own threads (`PostgresPool`).
public final class EventLoopTaskExecutor: TaskExecutor {
  public let eventLoop: any EventLoop

  public init(eventLoop: any EventLoop) {
    self.eventLoop = eventLoop
  }

  public func enqueue(_ job: consuming ExecutorJob) {
    let job = UnownedJob(job)
    self.eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
  }
}
