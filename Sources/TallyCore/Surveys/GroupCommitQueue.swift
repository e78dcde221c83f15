/// Which waiting items to store next, per group (a tenant). One batch of a group runs its
/// statements at a time, taking up to `maxBatch` of the items that arrived meanwhile; once it
/// is committing (waiting for its WAL flush) the next batch may start beside it when
/// `minBatchBesideCommit` items wait, up to `maxInFlight` batches of a group at once. A plain
/// state machine without I/O, so its decisions are tested directly; its owner holds it under a lock.
struct GroupCommitQueue<Item> {
  /// Batches of one group stored at the same time, one of them running statements and the others
  /// committing; more items wait and go in together.
  let maxInFlight: Int
  let maxBatch: Int
  /// Items that must wait before a batch starts beside a committing one. Fewer wait for the commit
  /// to end and go with what arrives meanwhile: a short commit costs less than a small batch.
  let minBatchBesideCommit: Int
  private var groups: [String: Group] = [:]

  fileprivate struct Group {
    /// A batch is running its statements (before its commit).
    var executing = false
    /// Batches started and not yet finished, the executing one included.
    var inFlight = 0
    var waiting: [Item] = []
  }

  init(maxInFlight: Int, maxBatch: Int, minBatchBesideCommit: Int = 1) {
    precondition(maxInFlight >= 1 && maxBatch >= 1, "a group commit queue needs a batch and room for one item")
    self.maxInFlight = maxInFlight
    self.maxBatch = maxBatch
    self.minBatchBesideCommit = max(1, minBatchBesideCommit)
  }

  /// An item arrived: the batch its caller must store now (nothing of the group is in flight, so
  /// no waiting at low load, or enough items now wait beside a commit), or nil when it waits.
  mutating func enqueue(_ item: Item, group key: String) -> [Item]? {
    var group = self.groups[key, default: Group()]
    defer { self.groups[key] = group }
    group.waiting.append(item)
    return self.startNext(&group)
  }

  /// The group's executing batch is committing: the next batch to store beside it (by another
  /// caller), or nil when nothing waits or `maxInFlight` batches are in flight.
  mutating func committing(group key: String) -> [Item]? {
    guard var group = self.groups[key], group.executing else {
      preconditionFailure("a batch of group \(key) committed, but none was running its statements")
    }
    group.executing = false
    defer { self.groups[key] = group }
    return self.startNext(&group)
  }

  /// A batch of the group was stored (after `committing`): the next batch for the same caller, or
  /// nil when another batch will start it or nothing waits.
  mutating func finished(group key: String) -> [Item]? {
    guard var group = self.groups[key], group.inFlight > 0, !group.executing || group.inFlight > 1 else {
      preconditionFailure("a batch finished in group \(key), which has none committing")
    }
    group.inFlight -= 1
    let next = self.startNext(&group)
    self.groups[key] = group.inFlight == 0 ? nil : group
    return next
  }

  /// Takes back a waiting item whose caller gave up (the first that `matches`), so that no batch
  /// stores it; nil when it is not waiting (a batch took it, or it was never enqueued).
  mutating func withdraw(group key: String, where matches: (Item) -> Bool) -> Item? {
    guard var group = self.groups[key], let index = group.waiting.firstIndex(where: matches) else { return nil }
    let item = group.waiting.remove(at: index)
    self.groups[key] = group
    return item
  }

  private func startNext(_ group: inout Group) -> [Item]? {
    guard !group.executing, group.inFlight < self.maxInFlight, !group.waiting.isEmpty,
      group.inFlight == 0 || group.waiting.count >= self.minBatchBesideCommit
    else { return nil }
    let batch = Array(group.waiting.prefix(self.maxBatch))
    group.waiting.removeFirst(batch.count)
    group.executing = true
    group.inFlight += 1
    return batch
  }

  /// Items waiting in `key`'s group (for tests and metrics).
  func waiting(group key: String) -> Int { self.groups[key]?.waiting.count ?? 0 }

  /// Batches of `key`'s group in flight (for tests).
  func inFlight(group key: String) -> Int { self.groups[key]?.inFlight ?? 0 }

  /// Groups with a batch in flight or items waiting; a drained queue holds none.
  var activeGroups: Int { self.groups.count }
}

extension GroupCommitQueue: Sendable where Item: Sendable {}
extension GroupCommitQueue.Group: Sendable where Item: Sendable {}
