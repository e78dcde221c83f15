import NIOConcurrencyHelpers

/// The connections each API key holds open on this server (`ServerLimits.maxConnectionsPerKey`).
final class KeyConnectionCounts: Sendable {
  let limit: Int
  private let counts = NIOLockedValueBox([String: Int]())

  /// Nil when the limit is off (`limit` 0).
  init?(limit: Int) {
    guard limit > 0 else { return nil }
    self.limit = limit
  }

  /// Counts one more connection of `keyID`; false, counting nothing, when the key is at its limit.
  func open(_ keyID: String) -> Bool {
    self.counts.withLockedValue { counts in
      let open = counts[keyID, default: 0]
      guard open < self.limit else { return false }
      counts[keyID] = open + 1
      return true
    }
  }

  func close(_ keyID: String) {
    self.counts.withLockedValue { counts in
      let open = counts[keyID, default: 0]
      counts[keyID] = open > 1 ? open - 1 : nil
    }
  }

  func count(_ keyID: String) -> Int { self.counts.withLockedValue { $0[keyID, default: 0] } }
}
