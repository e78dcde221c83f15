import NIOConcurrencyHelpers
import NIOCore

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Connections counted by what they share, each group up to `limit`: an API key's open
/// connections (`ServerLimits.maxConnectionsPerKey`), or a source's connections not yet past HELLO
/// (`ServerLimits.maxHandshakesPerAddress`).
final class ConnectionCounts<Key: Hashable & Sendable>: Sendable {
  let limit: Int
  private let counts = NIOLockedValueBox([Key: Int]())

  /// Nil when the limit is off (`limit` 0).
  init?(limit: Int) {
    guard limit > 0 else { return nil }
    self.limit = limit
  }

  /// Counts one more connection of `key`; false, counting nothing, when the key is at its limit.
  func open(_ key: Key) -> Bool {
    self.counts.withLockedValue { counts in
      let open = counts[key, default: 0]
      guard open < self.limit else { return false }
      counts[key] = open + 1
      return true
    }
  }

  func close(_ key: Key) {
    self.counts.withLockedValue { counts in
      let open = counts[key, default: 0]
      counts[key] = open > 1 ? open - 1 : nil
    }
  }

  func count(_ key: Key) -> Int { self.counts.withLockedValue { $0[key, default: 0] } }
}

/// Where a connection comes from, as the handshake limit counts it: an IPv4 address, or the /64
/// network of an IPv6 one (one host usually holds a whole /64, so counting addresses would not bound it).
enum ConnectionSource: Hashable, Sendable, CustomStringConvertible {
  case v4(UInt32)
  case v6(UInt64)

  init?(_ address: SocketAddress) {
    guard let text = address.ipAddress else { return nil }
    var bytes = [UInt8](repeating: 0, count: 16)
    if inet_pton(AF_INET, text, &bytes) == 1 {
      self = .v4(Self.integer(bytes[0..<4]))
    } else if inet_pton(AF_INET6, text, &bytes) == 1 {
      // An IPv4 client of a dual-stack listener arrives as ::ffff:a.b.c.d: counted as that IPv4 address.
      if bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xff, bytes[11] == 0xff {
        self = .v4(Self.integer(bytes[12..<16]))
      } else {
        self = .v6(Self.integer(bytes[0..<8]))
      }
    } else {
      return nil
    }
  }

  private static func integer<Integer: FixedWidthInteger>(_ bytes: ArraySlice<UInt8>) -> Integer {
    bytes.reduce(Integer(0)) { $0 << 8 | Integer($1) }
  }

  var description: String {
    switch self {
    case .v4(let address):
      return (0..<4).map { String(address >> (24 - 8 * $0) & 0xff) }.joined(separator: ".")
    case .v6(let prefix):
      let groups = (0..<4).map { String(prefix >> (48 - 16 * $0) & 0xffff, radix: 16) }
      return groups.joined(separator: ":") + "::/64"
    }
  }
}
