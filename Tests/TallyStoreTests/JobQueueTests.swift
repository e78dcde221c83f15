import Dispatch
import NIOConcurrencyHelpers
import TallyTestSupport
import Testing

@testable import TallyStore

/// The pool serves its lanes (tenants, the operator, no tenant) by turns.
@Suite struct JobQueueTests {
  @Test func lanesTakeTurnsAndEachKeepsItsOrder() {
    let queue = JobQueue()
    let jobs: [(String, PostgresPool.Lane)] = [
      ("a1", .tenant("a")), ("a2", .tenant("a")), ("a3", .tenant("a")), ("a4", .tenant("a")),
      ("b1", .tenant("b")), ("op1", .operator), ("b2", .tenant("b")),
    ]
    var byJob: [ObjectIdentifier: String] = [:]
    for (name, lane) in jobs {
      let made = Job()
      byJob[ObjectIdentifier(made)] = name
      queue.push(made, lane: lane)
    }
    queue.close()
    var order: [String] = []
    while let next = queue.pop() {
      order.append(byJob[ObjectIdentifier(next.job)]!)
      queue.finished(next.lane)
    }
    // a, b and the operator in the order they first came; then around again.
    #expect(order == ["a1", "b1", "op1", "a2", "b2", "a3", "a4"])
  }

  @Test func oneTenantsBacklogDoesNotHoldUpAnothersTransaction() async throws {
    let database = try await TestDatabase.create(migrated: false)
    let pool = database.pool(size: 1)
    defer { pool.close() }
    let order = NIOLockedValueBox<[String]>([])
    let gate = DispatchSemaphore(value: 0)
    // The one connection is busy until the gate opens; meanwhile tenant a queues five
    // transactions, the operator three, then tenants b and c and a key look-up one each.
    // Each group is queued before the next is sent (waited for, not slept on: under load, two
    // groups' tasks raced to the queue).
    let blocking = NIOLockedValueBox(false)
    func waitUntilQueued(_ count: Int) async throws {
      let queued = try await waitUntil(timeout: .seconds(20)) {
        blocking.withLockedValue { $0 } && pool.usage.queued == count
      }
      #expect(queued, "\(pool.usage.queued) queued, not \(count)")
    }
    let blocker = Task {
      try await pool.withTransaction(tenant: "a") { _ in
        blocking.withLockedValue { $0 = true }
        gate.wait()
      }
    }
    try await waitUntilQueued(0)
    var queued: [Task<Void, any Error>] = []
    for index in 1...5 {
      queued.append(
        Task { try await pool.withTransaction(tenant: "a") { _ in order.withLockedValue { $0.append("a\(index)") } } })
    }
    try await waitUntilQueued(5)
    // The operator's own work has a lane too.
    for index in 1...3 {
      queued.append(
        Task {
          try await pool.withTransaction(scope: .operator) { _ in order.withLockedValue { $0.append("o\(index)") } }
        })
    }
    try await waitUntilQueued(8)
    queued.append(
      Task { try await pool.withTransaction(tenant: "b") { _ in order.withLockedValue { $0.append("b") } } })
    try await waitUntilQueued(9)
    // The operator's scope in tenant c's lane, as a re-check of c's key waits.
    queued.append(
      Task {
        try await pool.withTransaction(scope: .operator, lane: .tenant("c")) { _ in
          order.withLockedValue { $0.append("c") }
        }
      })
    try await waitUntilQueued(10)
    // HELLO's look-up of a key: a lane of its own, not the operator's.
    queued.append(
      Task {
        try await pool.withTransaction(scope: .operator, lane: .apiKey("k")) { _ in
          order.withLockedValue { $0.append("k") }
        }
      })
    try await waitUntilQueued(11)
    gate.signal()
    try await blocker.value
    for task in queued { try await task.value }
    let ran = order.withLockedValue { $0 }
    // a, the operator, b, c and k take turns in the order they first came, so b runs third, c
    // fourth and k fifth; first come, first served would run them ninth to eleventh, and either
    // of c and k in the operator's lane runs ninth or later.
    #expect(
      ran.count == 11 && ran.firstIndex(of: "b") == 2 && ran.firstIndex(of: "c") == 3 && ran.firstIndex(of: "k") == 4,
      "\(ran)")
  }

  /// A lane at its limit is passed over, not waited for; a job finished frees its turn again.
  @Test func aLaneAtItsLimitLetsTheNextLaneGoFirst() {
    let queue = JobQueue(maxRunningPerLane: 2)
    var byJob: [ObjectIdentifier: String] = [:]
    func push(_ name: String, _ lane: PostgresPool.Lane) {
      let made = Job()
      byJob[ObjectIdentifier(made)] = name
      queue.push(made, lane: lane)
    }
    func pop() -> String? { queue.pop().map { byJob[ObjectIdentifier($0.job)]! } }
    for name in ["a1", "a2", "a3"] { push(name, .tenant("a")) }
    push("b1", .tenant("b"))
    #expect([pop(), pop(), pop()] == ["a1", "b1", "a2"])
    push("c1", .tenant("c"))
    #expect(pop() == "c1", "a runs two already")
    queue.finished(.tenant("a"))
    #expect(pop() == "a3")
    queue.close()
    #expect(pop() == nil)
  }

  /// One tenant's slow transactions hold at most all connections but one (from a pool of three):
  /// another tenant's runs beside them (with every connection, it waited for the slow ones to end).
  @Test func oneTenantLeavesAConnectionToTheOthers() async throws {
    let database = try await TestDatabase.create(migrated: false)
    let pool = database.pool(size: 3)
    defer { pool.close() }
    let gate = DispatchSemaphore(value: 0)
    let started = NIOLockedValueBox(0)
    let slow = (0..<3).map { _ in
      Task {
        try await pool.withTransaction(tenant: "a") { _ in
          started.withLockedValue { $0 += 1 }
          gate.wait()
        }
      }
    }
    // All three of a's are in the pool, running or queued, before b comes.
    let queuedBy = ContinuousClock.now + .seconds(30)
    while started.withLockedValue({ $0 }) + pool.usage.queued < 3, ContinuousClock.now < queuedBy {
      try await Task.sleep(for: .milliseconds(10))
    }
    let ran = NIOLockedValueBox(false)
    let other = Task { try await pool.withTransaction(tenant: "b") { _ in ran.withLockedValue { $0 = true } } }
    // Polled, not awaited: on a queue that gave tenant a both connections, b's transaction waits
    // for the gate, which opens only after this.
    let deadline = ContinuousClock.now + .seconds(10)
    while !ran.withLockedValue({ $0 }), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
    let ranBeside = ran.withLockedValue { $0 }
    for _ in slow { gate.signal() }
    for task in slow { try await task.value }
    try await other.value
    #expect(ranBeside, "tenant b's transaction waited for tenant a's three")
  }
}
