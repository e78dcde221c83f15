/// The statements one connection has prepared, by SQL text, within a budget of count and text:
/// some SQL is made per request (the MQA KPI writes a column per period, 1 to 1,100 of them), so a
/// tenant could otherwise fill tallyd's memory and the backend's with plans kept for ever. The
/// least recently used go first; their names wait in `evicted` until the connection can send
/// DEALLOCATE. Plain bookkeeping, no I/O.
struct PreparedStatements {
  struct Budget: Sendable {
    var statements = 1_000
    /// SQL text kept, in UTF-8 bytes: a few hundred of the usual statements, or 15 of the largest.
    var textBytes = 8 << 20
  }

  private struct Entry {
    var name: String
    var lastUsed: UInt64
  }

  let budget: Budget
  private var entries: [String: Entry] = [:]
  private var textBytes = 0
  private var clock: UInt64 = 0
  private var lastNumber = 0
  /// Names dropped from the budget that the server still holds.
  private(set) var evicted: [String] = []

  init(budget: Budget = Budget()) {
    self.budget = budget
  }

  var count: Int { self.entries.count }

  /// The name `sql` was prepared as, marking it used; nil if it was not (or was evicted).
  mutating func name(of sql: String) -> String? {
    guard let index = self.entries.index(forKey: sql) else { return nil }
    self.clock += 1
    self.entries.values[index].lastUsed = self.clock
    return self.entries.values[index].name
  }

  /// A name no statement on this connection has had.
  mutating func newName() -> String {
    self.lastNumber += 1
    return "tally_\(self.lastNumber)"
  }

  /// Drops `sql`'s statement, whose plan the server will not run again (0A000: a type it returns
  /// changed, another server's migration say); its name waits in `evicted`, and the next use
  /// prepares it anew.
  mutating func forget(_ sql: String) {
    guard let entry = self.entries.removeValue(forKey: sql) else { return }
    self.textBytes -= sql.utf8.count
    self.evicted.append(entry.name)
  }

  /// Records `sql`, prepared as `name`, then evicts the least recently used others while over budget.
  mutating func add(_ sql: String, as name: String) {
    self.clock += 1
    self.entries[sql] = Entry(name: name, lastUsed: self.clock)
    self.textBytes += sql.utf8.count
    while self.entries.count > 1,
      self.entries.count > self.budget.statements || self.textBytes > self.budget.textBytes,
      let oldest = self.entries.min(by: { $0.value.lastUsed < $1.value.lastUsed })
    {
      self.entries[oldest.key] = nil
      self.textBytes -= oldest.key.utf8.count
      self.evicted.append(oldest.value.name)
    }
  }

  /// The evicted names, now to be deallocated.
  mutating func takeEvicted() -> [String] {
    defer { self.evicted = [] }
    return self.evicted
  }

  /// Names a DEALLOCATE did not reach: tried again before the next statement.
  mutating func keepEvicted(_ names: some Sequence<String>) {
    self.evicted.append(contentsOf: names)
  }

  /// The session ended: the server holds none of them any more.
  mutating func removeAll() {
    self.entries = [:]
    self.textBytes = 0
    self.evicted = []
  }
}
