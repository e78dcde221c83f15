import NIOConcurrencyHelpers

/// The request bytes the calls of all a server's connections hold together
/// (`ServerLimits.maxServerHeldRequestBytes`). Each connection bounds its own calls' bytes; this
/// bounds their sum, which the per-connection budget times the connections a key may open would
/// not. Past the limit every connection stops reading until calls give bytes back, which they do
/// without reading more: a unary call when it returns, a stream's message when its handler asks
/// for the next.
final class ServerHeldRequestBytes: Sendable {
  let limit: Int
  private let state = NIOLockedValueBox(State())

  private struct State {
    var held = 0
    /// Connections that stopped reading for want of room, each woken once when there is some.
    var waiters: [ObjectIdentifier: @Sendable () -> Void] = [:]
  }

  init(limit: Int) { self.limit = limit }

  var held: Int { self.state.withLockedValue { $0.held } }

  /// Whether the calls hold as many bytes as they may: connections should not read now.
  var isFull: Bool { self.state.withLockedValue { $0.held >= self.limit } }

  func hold(_ bytes: Int) { self.state.withLockedValue { $0.held += bytes } }

  /// Counts `bytes` given back, and wakes every waiting connection once there is room.
  func release(_ bytes: Int) {
    guard bytes != 0 else { return }
    let woken = self.state.withLockedValue { state -> [@Sendable () -> Void] in
      state.held -= bytes
      guard state.held < self.limit, !state.waiters.isEmpty else { return [] }
      defer { state.waiters.removeAll() }
      return Array(state.waiters.values)
    }
    for wake in woken { wake() }
  }

  /// Keeps `wake` for the next time there is room, and returns true; returns false, keeping
  /// nothing, when there is room already (bytes given back since the caller found none).
  func waitForRoom(_ waiter: ObjectIdentifier, wake: @escaping @Sendable () -> Void) -> Bool {
    self.state.withLockedValue { state in
      guard state.held >= self.limit else { return false }
      state.waiters[waiter] = wake
      return true
    }
  }

  /// A closing connection waits no more.
  func stopWaiting(_ waiter: ObjectIdentifier) {
    _ = self.state.withLockedValue { $0.waiters.removeValue(forKey: waiter) }
  }
}
