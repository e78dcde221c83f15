/// Which waiting items to store next, per group (a tenant): at most `lanes` batches of a group in
/// flight, each taking up to `maxBatch` of the items that arrived meanwhile. A plain state machine
/// without I/O, so its decisions are tested directly; its owner holds it under a lock.
struct GroupCommitQueue<Item> {
  /// Batches of one group stored at the same time; more wait and go in together.
  let lanes: Int
  let maxBatch: Int
  private var groups: [String: Group] = [:]

  fileprivate struct Group {
    var running = 0
    var waiting: [Item] = []
  }

  init(lanes: Int, maxBatch: Int) {
    precondition(lanes >= 1 && maxBatch >= 1, "a group commit queue needs a lane and room for one item")
    self.lanes = lanes
    self.maxBatch = maxBatch
  }

  /// An item arrived: the batch its caller must store now (a free lane: no waiting at low load), or
  /// nil when it waits for a lane to finish.
  mutating func enqueue(_ item: Item, group key: String) -> [Item]? {
    var group = self.groups[key, default: Group()]
    defer { self.groups[key] = group }
    guard group.running < self.lanes else {
      group.waiting.append(item)
      return nil
    }
    group.running += 1
    return [item]
  }

  /// A batch of the group was stored: the next batch for the same lane, or nil when nothing waits
  /// and the lane is free again.
  mutating func finished(group key: String) -> [Item]? {
    guard var group = self.groups[key], group.running > 0 else {
      preconditionFailure("a batch finished in group \(key), which has none in flight")
    }
    guard !group.waiting.isEmpty else {
      group.running -= 1
      self.groups[key] = group.running == 0 ? nil : group
      return nil
    }
    let batch = Array(group.waiting.prefix(self.maxBatch))
    group.waiting.removeFirst(batch.count)
    self.groups[key] = group
    return batch
  }

  /// Items waiting in `key`'s group (for tests and metrics).
  func waiting(group key: String) -> Int { self.groups[key]?.waiting.count ?? 0 }

  /// Groups with a batch in flight or items waiting; a drained queue holds none.
  var activeGroups: Int { self.groups.count }
}

extension GroupCommitQueue: Sendable where Item: Sendable {}
extension GroupCommitQueue.Group: Sendable where Item: Sendable {}
