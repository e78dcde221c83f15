import NIOConcurrencyHelpers
import NIOCore
import TallyWire

/// A token bucket kept in one number, the instant it is full again (GCRA's "theoretical arrival
/// time"): a tenant costs eight bytes and no timer, and a bucket full again can be forgotten.
struct TokenBucket: Hashable {
  /// When the bucket holds its whole burst again, in `NIODeadline` nanoseconds.
  private(set) var fullAt: UInt64 = 0

  /// Takes one token at `now`: nil when there was one, otherwise how long until there is (and
  /// nothing taken, so a refused call costs the caller nothing).
  mutating func take(now: UInt64, interval: UInt64, burst: UInt64) -> UInt64? {
    // Each token taken moves `fullAt` one interval later; the bucket holds `burst` intervals.
    let next = max(self.fullAt, now) + interval
    let capacity = interval * burst
    if next - now > capacity { return next - now - capacity }
    self.fullAt = next
    return nil
  }
}

/// The calls per second each tenant may start on this server (`ServerLimits.tenantCallsPerSecond`).
final class TenantCallRates: Sendable {
  private struct Buckets {
    var byTenant: [String: TokenBucket] = [:]
    /// How many buckets there may be before the full ones are dropped.
    var sweepAt = TenantCallRates.minimumSweep
  }

  static let minimumSweep = 1024

  let callsPerSecond: Int
  let burst: Int
  /// Nanoseconds per token.
  private let interval: UInt64
  private let buckets = NIOLockedValueBox(Buckets())

  /// Nil when the limit is off (`callsPerSecond` 0).
  init?(callsPerSecond: Int, burst: Int) {
    guard callsPerSecond > 0 else { return nil }
    self.callsPerSecond = callsPerSecond
    self.burst = max(1, burst)
    self.interval = max(1, 1_000_000_000 / UInt64(callsPerSecond))
  }

  /// Counts a call of `tenantID`; nil when it may start, otherwise the wait before one may.
  func admit(_ tenantID: String, now: NIODeadline = .now()) -> Duration? {
    let now = now.uptimeNanoseconds
    let wait = self.buckets.withLockedValue { buckets in
      let wait = buckets.byTenant[tenantID, default: TokenBucket()].take(
        now: now, interval: self.interval, burst: UInt64(self.burst))
      if buckets.byTenant.count >= buckets.sweepAt {
        // A full bucket is what a tenant never seen starts with: operator calls naming made-up
        // tenants cannot grow this table beyond the tenants active within one burst.
        buckets.byTenant = buckets.byTenant.filter { $0.value.fullAt > now }
        buckets.sweepAt = max(Self.minimumSweep, 2 * buckets.byTenant.count)
      }
      return wait
    }
    // Whole milliseconds, rounded up: the STATUS says milliseconds, and 0 would mean "now".
    return wait.map { .milliseconds(($0 + 999_999) / 1_000_000) }
  }

  /// How many tenants have a bucket (for tests of the sweep).
  var trackedTenants: Int { self.buckets.withLockedValue { $0.byTenant.count } }

  func refusal(retryAfter: Duration) -> RPCError {
    RPCError(
      code: .resourceExhausted,
      message:
        "the tenant is over its limit of \(self.callsPerSecond) calls per second (bursts of up to \(self.burst)) "
        + "on this server; retry in \(retryAfter.wholeMilliseconds) ms",
      retryAfter: retryAfter
    )
  }
}
