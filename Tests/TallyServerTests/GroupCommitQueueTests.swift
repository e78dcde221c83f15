import Testing

@testable import TallyCore

/// The group commit queue's decisions, without I/O: who stores now, who waits, what goes together.
@Suite struct GroupCommitQueueTests {
  @Test func aLoneItemIsStoredAtOnceAndTheLaneIsFreedAfter() {
    var queue = GroupCommitQueue<Int>(lanes: 1, maxBatch: 10)
    #expect(queue.enqueue(1, group: "t") == [1])
    #expect(queue.finished(group: "t") == nil)
    #expect(queue.activeGroups == 0)
    #expect(queue.enqueue(2, group: "t") == [2], "a freed lane takes the next item at once")
  }

  @Test func itemsThatArriveWhileTheLanesAreBusyGoTogetherInOrder() {
    var queue = GroupCommitQueue<Int>(lanes: 2, maxBatch: 3)
    #expect(queue.enqueue(1, group: "t") == [1])
    #expect(queue.enqueue(2, group: "t") == [2])
    for item in 3...7 { #expect(queue.enqueue(item, group: "t") == nil) }
    #expect(queue.waiting(group: "t") == 5)
    #expect(queue.finished(group: "t") == [3, 4, 5], "at most maxBatch at a time, oldest first")
    #expect(queue.finished(group: "t") == [6, 7])
    #expect(queue.finished(group: "t") == nil)
    #expect(queue.activeGroups == 1, "one lane is still storing [3, 4, 5]")
    #expect(queue.finished(group: "t") == nil)
    #expect(queue.activeGroups == 0)
  }

  @Test func groupsNeverShareABatchOrALane() {
    var queue = GroupCommitQueue<String>(lanes: 1, maxBatch: 10)
    #expect(queue.enqueue("a1", group: "a") == ["a1"])
    #expect(queue.enqueue("b1", group: "b") == ["b1"], "another tenant's busy lane does not hold this one")
    #expect(queue.enqueue("a2", group: "a") == nil)
    #expect(queue.enqueue("b2", group: "b") == nil)
    #expect(queue.enqueue("a3", group: "a") == nil)
    #expect(queue.finished(group: "a") == ["a2", "a3"])
    #expect(queue.finished(group: "b") == ["b2"])
    #expect(queue.waiting(group: "a") == 0 && queue.waiting(group: "b") == 0)
  }
}
