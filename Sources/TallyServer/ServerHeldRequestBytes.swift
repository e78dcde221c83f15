import Synchronization

/// The request bytes the calls of all a server's connections hold together
/// (`ServerLimits.maxServerHeldRequestBytes`). Each connection bounds its own calls' bytes; this
/// bounds their sum, which the per-connection budget times the connections a key may open would
/// not. Past the limit the connections past HELLO stop reading until calls give bytes back, which
/// they do without reading more: a unary call when it returns, a stream's message when its
/// handler asks for the next.
///
/// The count is an atomic, read before every read and changed twice per message; the lock is
/// taken only by connections that wait and by the release that wakes them.
final class ServerHeldRequestBytes: Sendable {
  let limit: Int
  private let heldBytes = Atomic<Int>(0)
  /// Connections that stopped reading for want of room, each woken once when there is some.
  private let waiters = Mutex<[ObjectIdentifier: @Sendable () -> Void]>([:])
  private let waiterCount = Atomic<Int>(0)

  init(limit: Int) { self.limit = limit }

  var held: Int { self.heldBytes.load(ordering: .sequentiallyConsistent) }

  /// Whether the calls hold as many bytes as they may: connections should not read now.
  var isFull: Bool { self.held >= self.limit }

  func hold(_ bytes: Int) {
    guard bytes != 0 else { return }
    self.heldBytes.wrappingAdd(bytes, ordering: .sequentiallyConsistent)
  }

  /// Counts `bytes` given back, and wakes every waiting connection once there is room.
  func release(_ bytes: Int) {
    guard bytes != 0 else { return }
    let held = self.heldBytes.wrappingSubtract(bytes, ordering: .sequentiallyConsistent).newValue
    guard held < self.limit, self.waiterCount.load(ordering: .sequentiallyConsistent) > 0 else { return }
    let woken = self.waiters.withLock { waiters -> [@Sendable () -> Void] in
      defer {
        waiters.removeAll()
        self.waiterCount.store(0, ordering: .sequentiallyConsistent)
      }
      return Array(waiters.values)
    }
    for wake in woken { wake() }
  }

  /// Keeps `wake` for the next time there is room, and returns true; returns false, keeping
  /// nothing, when there is room already (bytes given back since the caller found none).
  func waitForRoom(_ waiter: ObjectIdentifier, wake: @escaping @Sendable () -> Void) -> Bool {
    self.waiters.withLock { waiters in
      waiters[waiter] = wake
      self.waiterCount.store(waiters.count, ordering: .sequentiallyConsistent)
    }
    // Counted as a waiter first, then checked: a release either sees the waiter or is seen here.
    guard self.isFull else {
      self.stopWaiting(waiter)
      return false
    }
    return true
  }

  /// A connection that reads again, or closes, waits no more.
  func stopWaiting(_ waiter: ObjectIdentifier) {
    self.waiters.withLock { waiters in
      waiters.removeValue(forKey: waiter)
      self.waiterCount.store(waiters.count, ordering: .sequentiallyConsistent)
    }
  }
}

/// Each tenant's part of the server's held request bytes: at most a quarter of the server's
/// budget. One tenant's calls that hold bytes for long (queued behind its own statements, or a
/// Ping's delay) would otherwise fill the budget and stop every other tenant's connections from
/// reading; now only that tenant's connections wait. Operator keys' connections have no part.
final class TenantHeldRequestBytes: Sendable {
  let limit: Int
  private let tenants = Mutex<[String: ServerHeldRequestBytes]>([:])

  init(serverLimit: Int) { self.limit = max(1, serverLimit / 4) }

  /// The tenant's budget, made at its first connection and kept (one per tenant that connected).
  func budget(of tenant: String) -> ServerHeldRequestBytes {
    self.tenants.withLock { tenants in
      if let budget = tenants[tenant] { return budget }
      let budget = ServerHeldRequestBytes(limit: self.limit)
      tenants[tenant] = budget
      return budget
    }
  }
}
