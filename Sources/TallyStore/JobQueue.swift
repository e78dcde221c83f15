import DequeModule
import Foundation
import TallyWire

/// The pool's queue: lanes served by turns, first come first served within a lane, blocking pool
/// threads while empty.
///
/// Lanes (`PostgresPool.Lane`): one per tenant, one for the operator's work, one for work that
/// sees no tenant, one per key HELLO is looking up. A free connection takes the next lane's oldest job and puts the lane back
/// at the end of the line, so a tenant with hundreds of queued dashboards delays another
/// tenant's call by at most one job per connection, not by its whole backlog.
final class JobQueue: @unchecked Sendable {
  // Guarded by `condition`.
  private let condition = NSCondition()
  private var lanes: [PostgresPool.Lane: Deque<Job>] = [:]
  /// The lanes with jobs, in the order of their turns.
  private var turns: Deque<PostgresPool.Lane> = []
  private var closed = false
  /// Jobs pushed and not yet taken; pool threads waiting in `pop`. For the metrics.
  private var queued = 0
  private var idleThreads = 0

  /// Jobs waiting for a connection, and pool threads waiting for a job, now.
  var counts: (queued: Int, idleThreads: Int) {
    self.condition.lock()
    defer { self.condition.unlock() }
    return (self.queued, self.idleThreads)
  }

  func push(_ job: Job, lane: PostgresPool.Lane) {
    self.condition.lock()
    if self.closed {
      self.condition.unlock()
      job.abandon(RPCError(code: .unavailable, message: "the database pool is closed"))
      return
    }
    if self.lanes[lane] == nil { self.turns.append(lane) }
    self.lanes[lane, default: []].append(job)
    self.queued += 1
    self.condition.signal()
    self.condition.unlock()
  }

  /// The next job, or nil once the queue is closed and drained.
  func pop() -> Job? {
    self.condition.lock()
    defer { self.condition.unlock() }
    self.idleThreads += 1
    while self.turns.isEmpty, !self.closed { self.condition.wait() }
    self.idleThreads -= 1
    guard let lane = self.turns.popFirst(), let job = self.lanes[lane]?.popFirst() else { return nil }
    self.queued -= 1
    if self.lanes[lane]?.isEmpty == true {
      self.lanes[lane] = nil
    } else {
      self.turns.append(lane)
    }
    return job
  }

  func close() {
    self.condition.lock()
    self.closed = true
    self.condition.broadcast()
    self.condition.unlock()
  }
}
