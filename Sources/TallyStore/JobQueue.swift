import DequeModule
import Foundation
import TallyWire

/// The pool's queue: lanes served by turns, first come first served within a lane, blocking pool
/// threads while empty.
///
/// Lanes (`PostgresPool.Lane`): one per tenant, one for the operator's work, one for work that
/// sees no tenant, one per key HELLO is looking up. A free connection takes the next lane's oldest job and puts the lane back
/// at the end of the line, so a tenant with hundreds of queued dashboards delays another
/// tenant's call by at most one job per connection, not by its whole backlog. A lane runs at most
/// `maxRunningPerLane` jobs at once, so that one tenant's slow work (dashboards whose statements
/// may run for minutes) never holds every connection while another tenant's call waits.
final class JobQueue: @unchecked Sendable {
  let maxRunningPerLane: Int
  // Guarded by `condition`.
  private let condition = NSCondition()
  private var lanes: [PostgresPool.Lane: Deque<Job>] = [:]
  /// Jobs taken and not yet finished, per lane.
  private var running: [PostgresPool.Lane: Int] = [:]
  /// The lanes with jobs, in the order of their turns.
  private var turns: Deque<PostgresPool.Lane> = []
  private var closed = false
  /// Jobs pushed and not yet taken; pool threads waiting in `pop`. For the metrics.
  private var queued = 0
  private var idleThreads = 0

  init(maxRunningPerLane: Int = .max) {
    precondition(maxRunningPerLane >= 1, "a lane runs at least one job")
    self.maxRunningPerLane = maxRunningPerLane
  }

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

  /// The next job of the first lane in turn below its limit, or nil once the queue is closed and
  /// drained. The caller says `finished(_:)` with the lane when the job is done.
  func pop() -> (job: Job, lane: PostgresPool.Lane)? {
    self.condition.lock()
    defer { self.condition.unlock() }
    self.idleThreads += 1
    defer { self.idleThreads -= 1 }
    while true {
      if let turn = self.turns.firstIndex(where: { self.running[$0, default: 0] < self.maxRunningPerLane }) {
        let lane = self.turns.remove(at: turn)
        guard let job = self.lanes[lane]?.popFirst() else { continue }
        self.queued -= 1
        self.running[lane, default: 0] += 1
        if self.lanes[lane]?.isEmpty == true {
          self.lanes[lane] = nil
        } else {
          self.turns.append(lane)
        }
        return (job, lane)
      }
      // Closed with every lane left at its limit: their running jobs finish, and free a turn.
      if self.closed, self.turns.isEmpty { return nil }
      self.condition.wait()
    }
  }

  /// A job `pop` gave out that its thread could not run (its connection down): first in its lane
  /// again, and the lane's turn first, for another thread.
  func giveBack(_ job: Job, lane: PostgresPool.Lane) {
    self.condition.lock()
    self.stoppedRunning(lane)
    if self.closed {
      self.condition.broadcast()
      self.condition.unlock()
      job.abandon(RPCError(code: .unavailable, message: "the database pool is closed"))
      return
    }
    if self.lanes[lane] == nil {
      self.turns.prepend(lane)
    } else if let turn = self.turns.firstIndex(of: lane) {
      self.turns.remove(at: turn)
      self.turns.prepend(lane)
    }
    self.lanes[lane, default: []].prepend(job)
    self.queued += 1
    self.condition.signal()
    self.condition.unlock()
  }

  /// A job `pop` gave out is done: its lane may run another.
  func finished(_ lane: PostgresPool.Lane) {
    self.condition.lock()
    self.stoppedRunning(lane)
    // Once closed, every waiting thread must see whether anything is left for it (or exit).
    if self.closed { self.condition.broadcast() } else { self.condition.signal() }
    self.condition.unlock()
  }

  /// One job of `lane` fewer runs (the lock held).
  private func stoppedRunning(_ lane: PostgresPool.Lane) {
    self.running[lane, default: 1] -= 1
    if self.running[lane] == 0 { self.running[lane] = nil }
  }

  func close() {
    self.condition.lock()
    self.closed = true
    self.condition.broadcast()
    self.condition.unlock()
  }
}
