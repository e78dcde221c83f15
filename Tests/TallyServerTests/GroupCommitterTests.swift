import NIOConcurrencyHelpers
import Testing

@testable import TallyCore

/// The group committer's batches as they run: the next batch starts while the one before it
/// commits, never while it runs its statements, and every caller gets its own result.
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
    let first = Task { try await committer.submit(1, group: "t") }
    try await eventually { started.withLockedValue { $0 } == [[1]] }
    let more = Task {
      try await withThrowingTaskGroup(of: Int.self) { group in
        for item in 2...3 { group.addTask { try await committer.submit(item, group: "t") } }
        return try await group.reduce(into: []) { $0.append($1) }.sorted()
      }
    }
    try await Task.sleep(for: .milliseconds(50))
    #expect(started.withLockedValue { $0 } == [[1]], "2 and 3 wait while [1] runs its statements")

    beforeCommit.open()
    try await eventually { started.withLockedValue { $0.count } == 2 }
    guard started.withLockedValue({ $0.count }) == 2 else {
      afterCommit.open()  // so that a failure ends the test instead of hanging it
      return
    }
    #expect(Set(started.withLockedValue { $0[1] }) == [2, 3], "2 and 3 go together beside the committing [1]")
    #expect(try await more.value == [20, 30], "they finish before [1] has")

    afterCommit.open()
    #expect(try await first.value == 10)
  }

  @Test func aBatchThatNeverSignalsCommitsWhenItsStoreReturns() async throws {
    let batches = NIOLockedValueBox(0)
    let committer = GroupCommitter<Int, Int>(maxInFlight: 2, maxBatch: 4) { _, batch, _ in
      batches.withLockedValue { $0 += 1 }
      try? await Task.sleep(for: .milliseconds(2))
      return batch.map { .success($0) }
    }
    let results = try await withThrowingTaskGroup(of: Int.self) { group in
      for item in 0..<50 { group.addTask { try await committer.submit(item, group: "t") } }
      return try await group.reduce(into: []) { $0.append($1) }.sorted()
    }
    #expect(results == Array(0..<50))
    #expect(batches.withLockedValue { $0 } < 50, "items that waited went together")
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

/// Polls `condition` until it holds, for at most five seconds.
private func eventually(_ condition: () -> Bool) async throws {
  let deadline = ContinuousClock.now + .seconds(5)
  while !condition() {
    guard ContinuousClock.now < deadline else {
      Issue.record("the condition did not hold within 5 s")
      return
    }
    try await Task.sleep(for: .milliseconds(1))
  }
}
