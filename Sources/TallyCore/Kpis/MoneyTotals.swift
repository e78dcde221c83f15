import TallyWire

extension Int64 {
  /// Adds an amount of money to a total. Each amount is at most 10^15 minor units
  /// (`FieldChecker.maxMoney`), yet enough of them could pass 2^63: such a total is refused with
  /// OUT_OF_RANGE, never wrapped and never a trap that would stop the server.
  mutating func addMoney(_ amount: Int64) throws {
    let (sum, overflow) = self.addingReportingOverflow(amount)
    guard !overflow else {
      throw RPCError(code: .outOfRange, message: "the amounts of this period add up to more than 2^63 minor units")
    }
    self = sum
  }
}

extension Sequence<Int64> {
  /// The sum of amounts of money, or OUT_OF_RANGE (`Int64.addMoney`).
  func moneyTotal() throws -> Int64 {
    var total: Int64 = 0
    for amount in self { try total.addMoney(amount) }
    return total
  }
}
