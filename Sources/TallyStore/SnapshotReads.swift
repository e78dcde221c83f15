import Foundation

/// A snapshot-read transaction's connection, which can also run independent statements on a second
/// connection of the pool that imports the transaction's snapshot: the same rows, read by two
/// backends at once (on two cores, a dashboard's dozen statements in about 0.6 of the time).
public struct SnapshotReads {
  /// The transaction's own connection.
  public let connection: PostgresConnection
  let pool: PostgresPool
  /// The transaction's lane in the pool's queue, which its helper waits in too.
  let lane: PostgresPool.Lane
  let settings: [(name: String, value: String)]

  /// Runs each of `units` once, on this transaction's connection or on a helper connection that
  /// imports its snapshot with the same settings. Throws the first error of this connection's
  /// units, else of the helper's; no unit starts after one fails, and a unit the helper is running
  /// then finishes first. Units run concurrently, so whatever they record must be thread-safe.
  ///
  /// The helper takes only units that are left when a pool connection comes free for it, and this
  /// thread waits only for a unit the helper has started: a busy pool runs them all here instead of
  /// deadlocking.
  public func run(_ units: [@Sendable (PostgresConnection) throws -> Void]) throws {
    guard units.count > 1, self.pool.size > 1 else {
      for unit in units { try unit(self.connection) }
      return
    }
    let snapshot = try self.connection.query("SELECT pg_export_snapshot() AS snapshot").rows[0]
      .require(String.self, "snapshot")
    let work = SharedUnits(units)
    let helper = Job()
    let settings = self.settings
    helper.prepare(
      { connection in work.help(on: connection, importing: snapshot, settings: settings) }, abandon: { _ in })
    // A cancelled call stops the helper's statement too, rather than wait for it.
    self.connection.runningJob?.cancelsWithIt(helper)
    self.pool.enqueue(helper, lane: self.lane)
    while let unit = work.claim(byHelper: false) {
      do {
        try unit(self.connection)
      } catch {
        work.fail(error, byHelper: false)
      }
    }
    // A helper that has not started by now would find nothing left: spare it the trip.
    helper.abandon(CancellationError())
    try work.waitForHelper()
  }
}

/// The units of one `SnapshotReads.run`, claimed one at a time by its two connections.
private final class SharedUnits: @unchecked Sendable {
  typealias Unit = @Sendable (PostgresConnection) throws -> Void

  private let units: [Unit]
  // Guarded by `condition`.
  private let condition = NSCondition()
  private var next = 0
  private var helperBusy = false
  // The transaction's own error wins: once it fails, PostgreSQL has aborted it and its snapshot,
  // so a helper importing that snapshot just then fails too (55000), for no reason of its own.
  private var failure: (any Error)?
  private var helperFailure: (any Error)?

  init(_ units: [Unit]) { self.units = units }

  /// The next unit to run, or nil when none is left or one failed. The helper's claim also ends
  /// its previous unit.
  func claim(byHelper: Bool) -> Unit? {
    self.condition.lock()
    defer { self.condition.unlock() }
    if byHelper {
      self.helperBusy = false
      self.condition.broadcast()
    }
    guard self.failure == nil, self.helperFailure == nil, self.next < self.units.count else { return nil }
    self.next += 1
    if byHelper { self.helperBusy = true }
    return self.units[self.next - 1]
  }

  func fail(_ error: any Error, byHelper: Bool) {
    self.condition.lock()
    if byHelper {
      self.helperFailure = self.helperFailure ?? error
    } else {
      self.failure = self.failure ?? error
    }
    self.condition.unlock()
  }

  /// Waits for the helper's unit, if it has one running; throws the first failure.
  func waitForHelper() throws {
    self.condition.lock()
    while self.helperBusy { self.condition.wait() }
    let failure = self.failure ?? self.helperFailure
    self.condition.unlock()
    if let failure { throw failure }
  }

  /// The helper connection's part: it imports the snapshot with its first unit, while the exporting
  /// transaction waits for that unit, and rolls back (it only read) after its last.
  func help(on connection: PostgresConnection, importing snapshot: String, settings: [(name: String, value: String)]) {
    var begun = false
    while let unit = self.claim(byHelper: true) {
      if !begun {
        connection.begin(.snapshotRead(importing: snapshot), settings: settings)
        begun = true
      }
      do {
        try unit(connection)
      } catch {
        self.fail(error, byHelper: true)
      }
    }
    if begun { connection.rollback() }
  }
}
