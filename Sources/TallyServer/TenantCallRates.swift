import NIOConcurrencyHelpers
import NIOCore
import Synchronization
import TallyCore
import TallyWire

/// A token bucket kept in one number, the instant it is full again (GCRA's "theoretical arrival
/// time"): a tenant costs eight bytes and no timer, and a bucket full again can be forgotten.
struct TokenBucket: Hashable {
  /// When the bucket holds its whole burst again, in `NIODeadline` nanoseconds.
  private(set) var fullAt: UInt64

  init(fullAt: UInt64 = 0) { self.fullAt = fullAt }

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

  /// Takes as many of `count` tokens as the bucket holds at `now`: how many it did not hold.
  mutating func takeUpTo(_ count: UInt64, now: UInt64, interval: UInt64, burst: UInt64) -> UInt64 {
    // `fullAt` is never more than the whole burst ahead of `now`: what is left of it is there.
    let start = max(self.fullAt, now)
    let held = (interval * burst - min(start - now, interval * burst)) / interval
    let taken = min(count, held)
    self.fullAt = start + taken * interval
    return count - taken
  }
}

/// One tenant's `TokenBucket`, shared by every connection acting on the tenant: taken from with
/// compare-and-swap, so that calls on two event loops never wait on a lock for it.
final class TenantCallBucket: Sendable {
  /// The tenant's rate; nil when its calls are not limited.
  let limit: TenantCallRates.Limit?
  private let fullAt = Atomic<UInt64>(0)
  /// Set once the table has forgotten this bucket (it was full, or the tenant's rate changed):
  /// holders look the tenant up again.
  fileprivate let forgotten = Atomic<Bool>(false)

  fileprivate init(limit: TenantCallRates.Limit?, fullAt: UInt64 = 0) {
    self.limit = limit
    self.fullAt.store(fullAt, ordering: .relaxed)
  }

  fileprivate func isFull(at now: UInt64) -> Bool { self.fullAt.load(ordering: .relaxed) <= now }

  /// The tokens taken at `now` that the bucket has not yet regained, rounded up.
  fileprivate func spent(at now: UInt64) -> UInt64 {
    let fullAt = self.fullAt.load(ordering: .relaxed)
    guard let limit = self.limit, fullAt > now else { return 0 }
    return (fullAt - now + limit.interval - 1) / limit.interval
  }

  fileprivate func take(now: UInt64, interval: UInt64, burst: UInt64) -> UInt64? {
    var seen = self.fullAt.load(ordering: .relaxed)
    while true {
      var bucket = TokenBucket(fullAt: seen)
      if let wait = bucket.take(now: now, interval: interval, burst: burst) { return wait }
      let (exchanged, current) = self.fullAt.compareExchange(
        expected: seen, desired: bucket.fullAt, ordering: .relaxed)
      if exchanged { return nil }
      seen = current
    }
  }

  fileprivate func takeUpTo(_ count: UInt64, now: UInt64, interval: UInt64, burst: UInt64) -> UInt64 {
    var seen = self.fullAt.load(ordering: .relaxed)
    while true {
      var bucket = TokenBucket(fullAt: seen)
      let missing = bucket.takeUpTo(count, now: now, interval: interval, burst: burst)
      let (exchanged, current) = self.fullAt.compareExchange(
        expected: seen, desired: bucket.fullAt, ordering: .relaxed)
      if exchanged { return missing }
      seen = current
    }
  }
}

/// The calls per second each tenant may start on this server: `ServerLimits.tenantCallsPerSecond`,
/// or the tenant's own rate where the operator set one (SetTenantCallRate).
final class TenantCallRates: Sendable {
  /// A connection's last tenant and its bucket: a tenant key's calls skip the shared table.
  struct Remembered {
    fileprivate var tenantID: String
    fileprivate var bucket: TenantCallBucket
  }

  struct Limit: Hashable {
    let callsPerSecond: Int
    let burst: Int
    /// Nanoseconds per token.
    let interval: UInt64

    init(callsPerSecond: Int, burst: Int) {
      self.callsPerSecond = callsPerSecond
      self.burst = burst
      self.interval = max(1, 1_000_000_000 / UInt64(max(1, callsPerSecond)))
    }
  }

  /// A call refused for its tenant's rate: the wait, and the limit that refused it.
  struct Refusal {
    var retryAfter: Duration
    var limit: Limit

    var error: RPCError {
      RPCError(
        code: .resourceExhausted,
        message:
          "the tenant is over its limit of \(self.limit.callsPerSecond) calls per second "
          + "(bursts of up to \(self.limit.burst)) on this server; retry in \(self.retryAfter.wholeMilliseconds) ms",
        retryAfter: self.retryAfter
      )
    }
  }

  private struct Table {
    var buckets: [String: TenantCallBucket] = [:]
    var ownRates: [String: TenantCallRate] = [:]
    /// How many buckets there may be before the full ones are forgotten.
    var sweepAt = TenantCallRates.minimumSweep
  }

  static let minimumSweep = 1024

  /// The server's rate, for tenants without one of their own; nil when off.
  let defaultLimit: Limit?
  private let defaultBurst: Int
  private let table = NIOLockedValueBox(Table())

  /// `callsPerSecond` 0 leaves the tenants without a rate of their own unlimited.
  init(callsPerSecond: Int, burst: Int) {
    self.defaultBurst = max(1, burst)
    self.defaultLimit = callsPerSecond > 0 ? Limit(callsPerSecond: callsPerSecond, burst: max(1, burst)) : nil
  }

  /// A tenant's rate: its own parts where it has them, the server's for the rest.
  private func limit(_ own: TenantCallRate?) -> Limit? {
    guard let own else { return self.defaultLimit }
    let rate = own.callsPerSecond ?? self.defaultLimit?.callsPerSecond ?? 0
    return rate > 0 ? Limit(callsPerSecond: rate, burst: max(1, own.burst ?? self.defaultBurst)) : nil
  }

  /// Replaces the tenants' own rates (tallyd reads them from the database every 2 s). A tenant
  /// whose rate changed keeps the tokens it has spent (at most the new burst), regained at the new
  /// rate: a lowered rate holds back a tenant at once, instead of handing it a fresh burst.
  func replaceOwnRates(_ rates: [String: TenantCallRate], now: NIODeadline = .now()) {
    let now = now.uptimeNanoseconds
    self.table.withLockedValue { table in
      guard table.ownRates != rates else { return }
      for tenantID in Set(table.ownRates.keys).union(rates.keys) {
        let limit = self.limit(rates[tenantID])
        guard self.limit(table.ownRates[tenantID]) != limit,
          let old = table.buckets.removeValue(forKey: tenantID)
        else { continue }
        old.forgotten.store(true, ordering: .relaxed)
        guard let limit else { continue }
        let spent = min(old.spent(at: now), UInt64(limit.burst))
        if spent > 0 { table.buckets[tenantID] = TenantCallBucket(limit: limit, fullAt: now + spent * limit.interval) }
      }
      table.ownRates = rates
    }
  }

  /// Counts a call of `tenantID`; nil when it may start.
  func admit(_ tenantID: String, remembering last: inout Remembered?, now: NIODeadline = .now()) -> Refusal? {
    let now = now.uptimeNanoseconds
    let bucket = self.bucket(tenantID, remembering: &last, now: now)
    guard let limit = bucket.limit,
      let wait = bucket.take(now: now, interval: limit.interval, burst: UInt64(limit.burst))
    else { return nil }
    // Whole milliseconds, rounded up: the STATUS says milliseconds, and 0 would mean "now".
    return Refusal(retryAfter: .milliseconds((wait + 999_999) / 1_000_000), limit: limit)
  }

  /// The longest a connection is held back for the frames of one read (`charge`).
  static let maxChargeWait = Duration.seconds(60)

  /// Counts `count` frames of `tenantID` that cost the server work but start no call (PINGs, calls
  /// refused for anything but the rate) as calls, taking the tokens the tenant has: nil when it had
  /// them all, otherwise how long the connection that sent them should stop reading, one token's
  /// interval for each it had not (at most `maxChargeWait`). The flood waits on its own connection;
  /// the tenant's other connections go on with the tokens left.
  func charge(
    _ count: Int, to tenantID: String, remembering last: inout Remembered?, now: NIODeadline = .now()
  ) -> Duration? {
    let now = now.uptimeNanoseconds
    let bucket = self.bucket(tenantID, remembering: &last, now: now)
    guard count > 0, let limit = bucket.limit else { return nil }
    let missing = bucket.takeUpTo(UInt64(count), now: now, interval: limit.interval, burst: UInt64(limit.burst))
    guard missing > 0 else { return nil }
    let most = UInt64(Self.maxChargeWait.components.seconds) * 1_000_000_000
    // Capped before multiplying, so that no count of frames can overflow the product.
    let wait = min(missing, most / limit.interval + 1) * limit.interval
    return .nanoseconds(Int64(min(wait, most)))
  }

  /// `admit` for a caller that keeps no `Remembered`.
  func admit(_ tenantID: String, now: NIODeadline = .now()) -> Refusal? {
    var last: Remembered?
    return self.admit(tenantID, remembering: &last, now: now)
  }

  /// The tenant's bucket: the connection's remembered one while it is current.
  private func bucket(_ tenantID: String, remembering last: inout Remembered?, now: UInt64) -> TenantCallBucket {
    if let last, last.tenantID == tenantID, !last.bucket.forgotten.load(ordering: .relaxed) { return last.bucket }
    let bucket = self.bucket(tenantID, now: now)
    last = Remembered(tenantID: tenantID, bucket: bucket)
    return bucket
  }

  private func bucket(_ tenantID: String, now: UInt64) -> TenantCallBucket {
    self.table.withLockedValue { table in
      if let bucket = table.buckets[tenantID] { return bucket }
      if table.buckets.count >= table.sweepAt {
        // A full bucket is what a tenant never seen starts with: operator calls naming made-up
        // tenants cannot grow this table beyond the tenants active within one burst.
        table.buckets = table.buckets.filter { _, bucket in
          let full = bucket.isFull(at: now)
          if full { bucket.forgotten.store(true, ordering: .relaxed) }
          return !full
        }
        table.sweepAt = max(Self.minimumSweep, 2 * table.buckets.count)
      }
      let bucket = TenantCallBucket(limit: self.limit(table.ownRates[tenantID]))
      table.buckets[tenantID] = bucket
      return bucket
    }
  }

  /// How many tenants have a bucket (for tests of the sweep).
  var trackedTenants: Int { self.table.withLockedValue { $0.buckets.count } }
}
