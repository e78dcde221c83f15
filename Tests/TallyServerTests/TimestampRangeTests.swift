import SwiftProtobuf
import TallyWire
import Testing

@testable import TallyCore

/// The times a request may carry: 1900-01-01T00:00:00Z up to, not including, 2200-01-01T00:00:00Z.
@Suite struct TimestampRangeTests {
  static func micros(seconds: Int64, nanos: Int32 = 0) -> (Int64?, [String]) {
    var checker = FieldChecker()
    let value = checker.timestamp(Google_Protobuf_Timestamp(seconds: seconds, nanos: nanos), "closes_at")
    return (value, checker.violations.map { "\($0.field): \($0.description)" })
  }

  /// The first second of 1900 was refused, though the range says 1900 on.
  @Test func theRangeStartsAtTheFirstSecondOf1900AndEndsBefore2200() {
    let first1900: Int64 = -2_208_988_800
    let first2200: Int64 = 7_258_118_400
    #expect(Self.micros(seconds: first1900).0 == FieldChecker.earliestMicros)
    #expect(Self.micros(seconds: first1900, nanos: 999_999_999).0 == FieldChecker.earliestMicros + 999_999)
    #expect(Self.micros(seconds: first2200 - 1, nanos: 999_999_999).0 == FieldChecker.latestMicros - 1)
    for (seconds, nanos) in [(first1900 - 1, 999_999_999), (first2200, 0), (0, -1), (0, 1_000_000_000)] {
      let (value, violations) = Self.micros(seconds: seconds, nanos: Int32(nanos))
      #expect(value == nil)
      #expect(
        violations == [
          "closes_at: must be a time from 1900-01-01T00:00:00Z to before 2200-01-01T00:00:00Z, nanos 0 to 999,999,999"
        ])
    }
  }
}
