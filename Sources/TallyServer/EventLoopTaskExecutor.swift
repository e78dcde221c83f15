import NIOCore

/// Runs a call's handler task on its connection's event loop instead of Swift's global pool.
///
/// A call then costs no thread hop and no wake-up between the loop that read the request and the
/// task that answers it (docs/BENCHMARKS.md measured those hops as most of a small call's time).
/// Handlers never block: libpq work runs on the pool's own threads (`PostgresPool`).
final class EventLoopTaskExecutor: TaskExecutor {
  let eventLoop: any EventLoop

  init(eventLoop: any EventLoop) {
    self.eventLoop = eventLoop
  }

  func enqueue(_ job: consuming ExecutorJob) {
    let job = UnownedJob(job)
    self.eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
  }
}
