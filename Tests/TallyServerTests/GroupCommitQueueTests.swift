import Testing

@testable import TallyCore

/// The group commit queue's decisions, without I/O: who stores now, who waits, what goes together.
@Suite struct GroupCommitQueueTests {
  @Test func aLoneItemIsStoredAtOnceAndItsGroupIsFreedAfter() {
    var queue = GroupCommitQueue<Int>(maxInFlight: 3, maxBatch: 10)
    #expect(queue.enqueue(1, group: "t") == [1])
    #expect(queue.committing(group: "t") == nil)
    #expect(queue.finished(group: "t") == nil)
    #expect(queue.activeGroups == 0)
    #expect(queue.enqueue(2, group: "t") == [2], "a drained group takes the next item at once")
  }

  @Test func itemsThatArriveWhileABatchRunsItsStatementsGoTogetherInOrder() {
    var queue = GroupCommitQueue<Int>(maxInFlight: 3, maxBatch: 3)
    #expect(queue.enqueue(1, group: "t") == [1])
    for item in 2...6 { #expect(queue.enqueue(item, group: "t") == nil, "[1] is running its statements") }
    #expect(queue.waiting(group: "t") == 5)
    #expect(queue.committing(group: "t") == [2, 3, 4], "at most maxBatch at a time, oldest first")
    #expect(queue.enqueue(7, group: "t") == nil, "[2, 3, 4] is running its statements")
    #expect(queue.committing(group: "t") == [5, 6, 7])
    #expect(queue.inFlight(group: "t") == 3)
    #expect(queue.enqueue(8, group: "t") == nil)
    #expect(queue.committing(group: "t") == nil, "three batches are in flight: 8 waits for one to finish")
    #expect(queue.finished(group: "t") == [8], "the caller of a finished batch takes what waits")
    #expect(queue.finished(group: "t") == nil, "[8] is running its statements")
    #expect(queue.committing(group: "t") == nil)
    #expect(queue.finished(group: "t") == nil)
    #expect(queue.activeGroups == 1, "[8] is still committing")
    #expect(queue.finished(group: "t") == nil)
    #expect(queue.activeGroups == 0)
  }

  @Test func oneBatchInFlightStoresTheWaitingOnlyAfterItFinishes() {
    var queue = GroupCommitQueue<Int>(maxInFlight: 1, maxBatch: 10)
    #expect(queue.enqueue(1, group: "t") == [1])
    #expect(queue.enqueue(2, group: "t") == nil)
    #expect(queue.committing(group: "t") == nil, "no room beside the committing batch")
    #expect(queue.enqueue(3, group: "t") == nil, "a committing batch still holds the only place")
    #expect(queue.finished(group: "t") == [2, 3])
    #expect(queue.committing(group: "t") == nil)
    #expect(queue.finished(group: "t") == nil)
    #expect(queue.activeGroups == 0)
  }

  @Test func aBatchStartsBesideACommitOnlyOnceEnoughItemsWait() {
    var queue = GroupCommitQueue<Int>(maxInFlight: 2, maxBatch: 10, minBatchBesideCommit: 3)
    #expect(queue.enqueue(1, group: "t") == [1])
    #expect(queue.enqueue(2, group: "t") == nil)
    #expect(queue.committing(group: "t") == nil, "one item waits: it goes after the commit, with what comes")
    #expect(queue.enqueue(3, group: "t") == nil)
    #expect(queue.enqueue(4, group: "t") == [2, 3, 4], "the third waiting item starts a batch beside the commit")
    #expect(queue.inFlight(group: "t") == 2)
    #expect(queue.enqueue(5, group: "t") == nil, "[2, 3, 4] is running its statements")
    #expect(queue.committing(group: "t") == nil, "two batches are in flight")
    #expect(queue.finished(group: "t") == nil, "one item waits beside the committing [2, 3, 4]")
    #expect(queue.finished(group: "t") == [5], "with nothing in flight any waiting item starts at once")
    #expect(queue.committing(group: "t") == nil)
    #expect(queue.finished(group: "t") == nil)
    #expect(queue.activeGroups == 0)
  }

  @Test func groupsNeverShareABatch() {
    var queue = GroupCommitQueue<String>(maxInFlight: 2, maxBatch: 10)
    #expect(queue.enqueue("a1", group: "a") == ["a1"])
    #expect(queue.enqueue("b1", group: "b") == ["b1"], "another tenant's running batch does not hold this one")
    #expect(queue.enqueue("a2", group: "a") == nil)
    #expect(queue.enqueue("b2", group: "b") == nil)
    #expect(queue.enqueue("a3", group: "a") == nil)
    #expect(queue.committing(group: "a") == ["a2", "a3"])
    #expect(queue.committing(group: "b") == ["b2"])
    #expect(queue.waiting(group: "a") == 0 && queue.waiting(group: "b") == 0)
    #expect(queue.inFlight(group: "a") == 2 && queue.inFlight(group: "b") == 2)
  }
}
