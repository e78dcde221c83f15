import TallyProto
import TallyWire
import Testing

/// What a STATUS carries when a request had more wrong with it than an answer should list.
@Suite struct RPCErrorTests {
  private func violations(_ count: Int) -> [RPCError.FieldViolation] {
    (0..<count).map { .init(field: "items[\($0)]", description: "is required") }
  }

  @Test func aFewViolationsAreAllListedInTheMessage() {
    let error = RPCError.invalidArgument(self.violations(2))
    #expect(error.message == "items[0]: is required; items[1]: is required")
    #expect(error.fieldViolations.count == 2)
  }

  @Test func manyViolationsAreCountedPastTheFirstHundred() {
    let error = RPCError.invalidArgument(self.violations(150), omitted: 1_000)
    #expect(error.fieldViolations.count == RPCError.maxFieldViolations)
    #expect(error.fieldViolations.last?.field == "items[99]")
    #expect(error.message.hasPrefix("items[0]: is required; "))
    #expect(error.message.hasSuffix("; and 1140 more (1150 in all, the first 100 in field_violations)"))
    let some = RPCError.invalidArgument(self.violations(12))
    #expect(some.message.hasSuffix("; and 2 more (12 in all, all in field_violations)"))
  }

  /// However an error was built, its STATUS stays a few kilobytes.
  @Test func theStatusCutsLongTextsAtWholeCharacters() {
    var error = RPCError(code: .internalError, message: String(repeating: "é", count: 10_000))
    error.fieldViolations = (0..<500).map { _ in .init(field: String(repeating: "f", count: 2_000), description: "x") }
    let status = error.statusMessage
    #expect(status.message.utf8.count <= 8_192 && status.message.hasSuffix("é…"))
    #expect(status.fieldViolations.count == RPCError.maxFieldViolations)
    #expect(status.fieldViolations[0].field.utf8.count <= 512)
  }
}
