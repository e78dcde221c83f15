import Foundation
public import Logging
import NIOConcurrencyHelpers
import TallyWire

/// A pool of libpq connections, each owned by its own thread, so blocking libpq calls never run
/// on an event loop or on Swift's concurrency pool.
///
/// Work is a synchronous closure run on a pool thread; callers `await` its result. Cancelling the
/// calling task removes queued work or sends `PQcancel` to the running statement.
public final class PostgresPool: Sendable {
  public struct Configuration: Sendable {
    /// A `postgresql://` URL or a libpq `key=value` string.
    public var conninfo: String
    /// Connections (and threads); DESIGN.md's default is 2 × cores.
    public var size: Int
    /// How long a failed connection attempt makes the next one wait (doubling up to 8 ×).
    public var reconnectBackoff: Duration
    /// Sees every statement the pool's connections run; nil in the server.
    public var statementObserver: PostgresStatement.Observer?
    /// The longest any one statement runs (PostgreSQL's `statement_timeout`, set on each
    /// connection), whatever its call's own timeout: a call without one cannot hold a connection,
    /// which every tenant shares, for ever. nil for no limit.
    public var statementTimeout: Duration?

    public init(
      conninfo: String, size: Int? = nil, reconnectBackoff: Duration = .milliseconds(250),
      statementObserver: PostgresStatement.Observer? = nil, statementTimeout: Duration? = .seconds(300)
    ) {
      self.conninfo = conninfo
      self.size = max(1, size ?? 2 * ProcessInfo.processInfo.activeProcessorCount)
      self.reconnectBackoff = reconnectBackoff
      self.statementObserver = statementObserver
      self.statementTimeout = statementTimeout
    }
  }

  private let configuration: Configuration
  /// The database the pool connects to, for a connection of another kind to the same one.
  public var conninfo: String { self.configuration.conninfo }
  private let logger: Logger
  private let queue: JobQueue

  public init(configuration: Configuration, logger: Logger) {
    self.configuration = configuration
    self.logger = logger
    // One connection is always left to the other lanes, from three up: with two, a tenant's one
    // slow statement would hold up its own other calls (and its key's re-check) behind it.
    self.queue = JobQueue(maxRunningPerLane: configuration.size >= 3 ? configuration.size - 1 : configuration.size)
    let liveConnections = LiveConnections()
    for index in 0..<configuration.size {
      let worker = Worker(configuration: configuration, queue: self.queue, live: liveConnections, logger: logger)
      let thread = Thread { worker.run() }
      thread.name = "tally-postgres-\(index)"
      thread.start()
    }
  }

  /// What the pool is doing now, for the metrics.
  public struct Usage: Sendable, Equatable {
    /// Connections (threads) the pool has.
    public var size: Int
    /// Connections running a job, or connecting.
    public var busy: Int
    /// Jobs waiting for a connection.
    public var queued: Int

    public init(size: Int, busy: Int, queued: Int) {
      self.size = size
      self.busy = busy
      self.queued = queued
    }
  }

  public var usage: Usage {
    let counts = self.queue.counts
    return Usage(
      size: self.configuration.size, busy: self.configuration.size - counts.idleThreads, queued: counts.queued)
  }

  /// Stops the threads after the queued work; new work fails with UNAVAILABLE.
  public func close() {
    self.queue.close()
  }

  /// Runs `body` with a connection of the pool, on the connection's thread. `lane` is whose turn
  /// it waits for: the pool serves lanes by turns (`JobQueue`).
  @discardableResult
  public func withConnection<T: Sendable>(
    lane: Lane = .nothing, _ body: @escaping @Sendable (PostgresConnection) throws -> T
  ) async throws -> T {
    let job = Job()
    return try await withTaskCancellationHandler {
      try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
        job.prepare { connection in
          do {
            continuation.resume(returning: try body(connection))
          } catch {
            continuation.resume(throwing: error)
          }
        } abandon: { error in
          continuation.resume(throwing: error)
        }
        self.queue.push(job, lane: lane)
      }
    } onCancel: {
      job.cancel()
    }
  }

  /// Whose turn a job waits for in the pool's queue (`JobQueue`): each tenant's work has a lane,
  /// so that one tenant's queued work cannot hold up another's.
  public enum Lane: Sendable, Hashable {
    /// A tenant's transactions, and the re-checks of its keys.
    case tenant(String)
    /// The operator's own work (tenants, operator keys' calls).
    case `operator`
    /// Work that sees no tenant: partitions, pulse rounds.
    case nothing
    /// HELLO's look-ups of keys, whose tenant is not known yet, in a few lanes by key id
    /// (`DatabaseAuthenticator.lookUpLanes`), so that a storm of new connections takes turns
    /// beside the tenants instead of queueing in one lane, and made-up ids cannot take more.
    case apiKey(String)
  }

  /// Whose rows a transaction sees through row-level security.
  public enum Scope: Sendable, Hashable {
    /// One tenant's rows (`tally.tenant_id`).
    case tenant(String)
    /// Every tenant's rows and the operator keys: the operator's calls and HELLO's key lookup.
    case `operator`
    /// No tenant's rows at all.
    case nothing

    /// The lane its transactions wait in, unless told otherwise.
    public var lane: Lane {
      switch self {
      case .tenant(let tenant): .tenant(tenant)
      case .operator: .operator
      case .nothing: .nothing
      }
    }

    /// The transaction's settings that row-level security reads.
    var settings: [(name: String, value: String)] {
      switch self {
      case .tenant(let tenant): [("tally.tenant_id", tenant)]
      case .operator: [("tally.operator", "on")]
      case .nothing: []
      }
    }
  }

  /// Runs `body` in one transaction whose row-level security sees only `tenant` (nothing when nil).
  ///
  /// Commits when `body` returns, rolls back when it throws. Database errors come out as `RPCError`s.
  @discardableResult
  public func withTransaction<T: Sendable>(
    tenant: String?,
    _ body: @escaping @Sendable (PostgresConnection) throws -> T
  ) async throws -> T {
    try await self.withTransaction(scope: tenant.map { .tenant($0) } ?? .nothing, body)
  }

  /// Runs `body` in one transaction with the row-level security of `scope` and `settings`
  /// (`SET LOCAL`s, sent with its BEGIN), waiting for a connection in `lane` (the scope's own
  /// unless told otherwise).
  @discardableResult
  public func withTransaction<T: Sendable>(
    scope: Scope,
    lane: Lane? = nil,
    settings: [(name: String, value: String)] = [],
    _ body: @escaping @Sendable (PostgresConnection) throws -> T
  ) async throws -> T {
    try await self.transaction(.readWrite, lane: lane ?? scope.lane, settings: scope.settings + settings, body)
  }

  /// Runs `body` in one read-only transaction over one snapshot, with the row-level security of
  /// `scope` and `settings` (`SET LOCAL`s). `body` may spread independent statements over a second
  /// connection that reads the same snapshot (`SnapshotReads.run`).
  @discardableResult
  public func withSnapshotRead<T: Sendable>(
    scope: Scope,
    settings: [(name: String, value: String)] = [],
    _ body: @escaping @Sendable (SnapshotReads) throws -> T
  ) async throws -> T {
    let settings = scope.settings + settings
    return try await self.transaction(.snapshotRead(importing: nil), lane: scope.lane, settings: settings) {
      connection in
      try body(SnapshotReads(connection: connection, pool: self, lane: scope.lane, settings: settings))
    }
  }

  /// Pushes `job` for a pool thread to run; with nobody awaiting it, as `SnapshotReads` does.
  func enqueue(_ job: Job, lane: Lane) { self.queue.push(job, lane: lane) }

  /// The pool's connections (and threads).
  var size: Int { self.configuration.size }

  private func transaction<T: Sendable>(
    _ kind: TransactionKind,
    lane: Lane,
    settings: [(name: String, value: String)],
    _ body: @escaping @Sendable (PostgresConnection) throws -> T
  ) async throws -> T {
    // Read here: the pool's thread runs `body` outside this task and its task-local values.
    let mark = kind == .readWrite ? TransactionMark.current : nil
    do {
      return try await self.withConnection(lane: lane) { connection in
        do {
          connection.begin(kind, settings: settings, mark: mark)
          let result = try body(connection)
          try connection.commit()
          return result
        } catch {
          connection.rollback()
          throw error
        }
      }
    } catch let error as PostgresError {
      throw error.rpcError(cancelled: Task.isCancelled, logger: self.logger)
    } catch is CancellationError {
      throw RPCError(code: .cancelled, message: "the call was cancelled")
    }
  }
}

/// One unit of work and the state that makes sure its caller is resumed exactly once.
final class Job: Sendable {
  private enum State {
    case created
    case queued(run: @Sendable (PostgresConnection) -> Void, abandon: @Sendable (any Error) -> Void)
    case running(CancelToken?)
    case cancelledWhileRunning
    case done
  }

  private let state = NIOLockedValueBox(State.created)
  /// A cancel request on its way to the server: the job is not finished, and its connection not
  /// given to the next job, until it has arrived, so that it cannot stop a later job's statement.
  private let cancelInFlight = DispatchGroup()
  /// Jobs that work for this one (a snapshot read's helper), cancelled with it; `cancelled` once
  /// it has been, so that a helper linked after that is cancelled at once.
  private let helpers = NIOLockedValueBox<(cancelled: Bool, jobs: [Job])>((false, []))

  /// Whether the caller cancelled while the job ran: its connection sends no more statements.
  var isCancelled: Bool {
    self.state.withLockedValue { if case .cancelledWhileRunning = $0 { true } else { false } }
  }

  func prepare(
    _ run: @escaping @Sendable (PostgresConnection) -> Void,
    abandon: @escaping @Sendable (any Error) -> Void
  ) {
    let cancelledEarly = self.state.withLockedValue { state -> Bool in
      if case .done = state { return true }
      state = .queued(run: run, abandon: abandon)
      return false
    }
    if cancelledEarly { abandon(CancellationError()) }
  }

  /// Called by a pool thread: the closure to run, or nil if the caller already gave up.
  func start(cancelToken: CancelToken?) -> (@Sendable (PostgresConnection) -> Void)? {
    self.state.withLockedValue { state in
      guard case .queued(let run, _) = state else { return nil }
      state = .running(cancelToken)
      return run
    }
  }

  /// Done first, under the lock, then the wait: a `cancel` that came between the wait and the
  /// lock saw the job still running and sent its request to the next job's statement.
  func finish() {
    self.state.withLockedValue { $0 = .done }
    self.cancelInFlight.wait()
  }

  /// Fails the job without running it (pool closed, no connection).
  func abandon(_ error: any Error) {
    let abandon = self.state.withLockedValue { state -> (@Sendable (any Error) -> Void)? in
      guard case .queued(_, let abandon) = state else { return nil }
      state = .done
      return abandon
    }
    abandon?(error)
  }

  /// Called where the caller's task is cancelled, an event loop's thread among them: PQcancel,
  /// which opens a connection to the server and waits for it, runs on a thread of its own.
  func cancel() {
    let (abandon, token) = self.state.withLockedValue {
      state -> ((@Sendable (any Error) -> Void)?, CancelToken?) in
      switch state {
      case .created:
        state = .done
      case .queued(_, let abandon):
        state = .done
        return (abandon, nil)
      case .running(let token):
        state = .cancelledWhileRunning
        // Entered under the lock, so `finish` waits for the request (see `cancelInFlight`).
        if token != nil { self.cancelInFlight.enter() }
        return (nil, token)
      case .cancelledWhileRunning, .done:
        break
      }
      return (nil, nil)
    }
    abandon?(CancellationError())
    if let token {
      DispatchQueue.global().async {
        token.send()
        self.cancelInFlight.leave()
      }
    }
    let helpers = self.helpers.withLockedValue { helpers in
      helpers.cancelled = true
      defer { helpers.jobs = [] }
      return helpers.jobs
    }
    for helper in helpers { helper.cancel() }
  }

  /// Cancels `helper` whenever this job is cancelled: a caller cancelled while only the helper's
  /// statement runs would otherwise wait for that statement, up to the statement timeout.
  func cancelsWithIt(_ helper: Job) {
    let cancelNow = self.helpers.withLockedValue { helpers -> Bool in
      if !helpers.cancelled { helpers.jobs.append(helper) }
      return helpers.cancelled
    }
    if cancelNow { helper.cancel() }
  }
}

/// How many of the pool's threads hold a live connection: a thread that lost its own gives its
/// jobs to them rather than fail them, and fails them only when none is left (the database down).
private final class LiveConnections: Sendable {
  private let count = NIOLockedValueBox(0)
  var any: Bool { self.count.withLockedValue { $0 > 0 } }
  func add(_ change: Int) { self.count.withLockedValue { $0 += change } }
}

/// A pool thread: owns one connection, reopens it with back-off, runs jobs one at a time.
private final class Worker: @unchecked Sendable {
  // Touched only by its own thread after start.
  private let configuration: PostgresPool.Configuration
  private let queue: JobQueue
  private let live: LiveConnections
  private let logger: Logger
  private var connection: PostgresConnection?
  /// Whether this thread counts in `live`.
  private var countedLive = false
  private var nextAttempt = ContinuousClock.now
  private var backoff: Duration

  init(configuration: PostgresPool.Configuration, queue: JobQueue, live: LiveConnections, logger: Logger) {
    self.configuration = configuration
    self.queue = queue
    self.live = live
    self.logger = logger
    self.backoff = configuration.reconnectBackoff
  }

  func run() {
    while let (job, lane) = self.queue.pop() {
      guard let connection = self.healthyConnection() else {
        self.markLive(false)
        // Another thread's connection is up (this one was terminated, or the server refused one
        // more): the job waits for it, and this thread for its next attempt, instead of failing
        // every job it would take meanwhile.
        if self.live.any {
          self.queue.giveBack(job, lane: lane)
          let wait = (self.nextAttempt - ContinuousClock.now).wholeMilliseconds
          Thread.sleep(forTimeInterval: Double(max(wait, 10)) / 1000)
          continue
        }
        self.queue.finished(lane)
        job.abandon(
          RPCError(
            code: .unavailable,
            message: "the database is unavailable",
            retryAfter: max(self.nextAttempt - ContinuousClock.now, .milliseconds(100))
          )
        )
        continue
      }
      self.markLive(true)
      defer { self.queue.finished(lane) }
      guard let body = job.start(cancelToken: connection.makeCancelToken()) else { continue }
      connection.isCancelled = { job.isCancelled }
      connection.runningJob = job
      body(connection)
      job.finish()
      connection.isCancelled = { false }
      connection.runningJob = nil
      connection.endLeftoverTransaction()
      if !connection.isHealthy { self.markLive(false) }
    }
    self.markLive(false)
    self.connection?.close()
  }

  private func markLive(_ live: Bool) {
    guard live != self.countedLive else { return }
    self.countedLive = live
    self.live.add(live ? 1 : -1)
  }

  private func healthyConnection() -> PostgresConnection? {
    if let connection, connection.isAliveWhileIdle { return connection }
    guard ContinuousClock.now >= self.nextAttempt else { return nil }
    do {
      if let connection {
        try connection.connect()
      } else {
        self.connection = try PostgresConnection(
          conninfo: self.configuration.conninfo, observer: self.configuration.statementObserver)
      }
      if let timeout = self.configuration.statementTimeout {
        // Whole milliseconds, at least 1 (0 would mean none), at most PostgreSQL's maximum.
        let milliseconds = min(max(timeout / .milliseconds(1), 1), Double(Int32.max))
        try self.connection?.execute("SET statement_timeout = \(Int(milliseconds))")
      }
      self.backoff = self.configuration.reconnectBackoff
      return self.connection
    } catch {
      // Closed, so that the next attempt connects again: a connection whose SET failed was kept,
      // and served its jobs without their statement timeout.
      self.connection?.close()
      self.logger.warning("database connection failed", metadata: ["error": "\(String(reflecting: error))"])
      self.nextAttempt = ContinuousClock.now + self.backoff
      self.backoff = min(self.backoff * 2, self.configuration.reconnectBackoff * 8)
      return nil
    }
  }
}
