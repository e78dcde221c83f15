import NIOConcurrencyHelpers
import TallyWire
import Testing

@testable import TallyCore

/// The group committer's batches as they run: the next batch starts while the one before it
/// commits, never while it runs its statements, and every caller gets its own result. Results
/// are polled, not awaited, so that a committer that strands a batch fails the test instead of
/// hanging it.
@Suite struct GroupCommitterTests {
  @Test func theNextBatchStartsWhileTheOneBeforeItCommits() async throws {
    let started = NIOLockedValueBox<[[Int]]>([])
    let beforeCommit = Gate()
    let afterCommit = Gate()
    let committer = GroupCommitter<Int, Int>(maxInFlight: 3, maxBatch: 10) { _, batch, committing in
      started.withLockedValue { $0.append(batch) }
      if batch == [1] {
        await beforeCommit.wait()
        committing()
        await afterCommit.wait()
      }
      return batch.map { .success($0 * 10) }
    }
    let results = Results()
    results.submit(1, to: committer)
    try await eventually { started.withLockedValue { $0 } == [[1]] }
    results.submit(2, to: committer)
    results.submit(3, to: committer)
    try await eventually { committer.waiting(group: "t") == 2 }
    #expect(started.withLockedValue { $0 } == [[1]], "2 and 3 wait while [1] runs its statements")

    beforeCommit.open()
    try await eventually { results.values.count == 2 }
    #expect(results.values == [2: 20, 3: 30], "2 and 3 finish while [1] is still committing")
    #expect(started.withLockedValue { $0 }.last.map(Set.init) == [2, 3], "2 and 3 went together")

    afterCommit.open()
    try await eventually { results.values.count == 3 }
    #expect(results.values[1] == 10)
  }

  /// A caller that gives up while its item waits (the call was cancelled, or its deadline passed)
  /// takes it back: it is never stored, since the client was told the call ended.
  @Test func anItemWhoseCallerGaveUpWhileItWaitedIsNeverStored() async throws {
    let stored = NIOLockedValueBox<[Int]>([])
    let release = Gate()
    let committer = GroupCommitter<Int, Int>(maxInFlight: 1, maxBatch: 10) { _, batch, _ in
      if batch == [1] { await release.wait() }
      stored.withLockedValue { $0 += batch }
      return batch.map { .success($0) }
    }
    let results = Results()
    results.submit(1, to: committer)
    try await eventually { committer.waiting(group: "t") == 0 && results.values.isEmpty }
    let gaveUp = Task { try await committer.submit(2, group: "t") }
    results.submit(3, to: committer)
    try await eventually { committer.waiting(group: "t") == 2 }
    gaveUp.cancel()
    // Polled: a committer that kept 2 would hold it until the release, and the test would hang.
    try await eventually { committer.waiting(group: "t") == 1 }
    release.open()
    await #expect(throws: RPCError.self) { try await gaveUp.value }
    try await eventually { results.values.count == 2 }
    #expect(stored.withLockedValue { $0 } == [1, 3])
    // A caller cancelled before it submits enqueues nothing.
    let early = Task {
      withUnsafeCurrentTask { $0?.cancel() }
      return try await committer.submit(4, group: "t")
    }
    await #expect(throws: RPCError.self) { try await early.value }
    #expect(stored.withLockedValue { $0 } == [1, 3])
  }

  @Test func aBatchThatNeverSignalsCommitsWhenItsStoreReturns() async throws {
    let batches = NIOLockedValueBox(0)
    let committer = GroupCommitter<Int, Int>(maxInFlight: 2, maxBatch: 4) { _, batch, _ in
      batches.withLockedValue { $0 += 1 }
      try? await Task.sleep(for: .milliseconds(10))
      return batch.map { .success($0) }
    }
    let results = Results()
    for item in 0..<50 { results.submit(item, to: committer) }
    try await eventually { results.values.count == 50 }
    #expect(results.values == Dictionary(uniqueKeysWithValues: (0..<50).map { ($0, $0) }))
    #expect(batches.withLockedValue { $0 } < 50, "items that waited went together")
  }
}

/// Each submitted item's result, filled in as its call returns.
private final class Results: Sendable {
  private let box = NIOLockedValueBox<[Int: Int]>([:])

  var values: [Int: Int] { self.box.withLockedValue { $0 } }

  func submit(_ item: Int, to committer: GroupCommitter<Int, Int>) {
    Task {
      let result = try await committer.submit(item, group: "t")
      self.box.withLockedValue { $0[item] = result }
    }
  }
}

/// Suspends its waiters until it is opened.
private final class Gate: Sendable {
  private let state = NIOLockedValueBox<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

  func wait() async {
    await withCheckedContinuation { continuation in
      let open = self.state.withLockedValue { state -> Bool in
        if !state.open { state.waiters.append(continuation) }
        return state.open
      }
      if open { continuation.resume() }
    }
  }

  func open() {
    let waiters = self.state.withLockedValue { state in
      state.open = true
      defer { state.waiters = [] }
      return state.waiters
    }
    for waiter in waiters { waiter.resume() }
  }
}

/// Polls `condition` until it holds, for at most 30 seconds: generous, since the full suite's
/// other tests can hold both cooperative threads of a 2-core machine for seconds (5 s flaked in CI).
private func eventually(_ condition: () -> Bool) async throws {
  let deadline = ContinuousClock.now + .seconds(30)
  while !condition() {
    guard ContinuousClock.now < deadline else {
      Issue.record("the condition did not hold within 30 s")
      return
    }
    try await Task.sleep(for: .milliseconds(1))
  }
}
