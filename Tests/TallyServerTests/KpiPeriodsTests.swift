import TallyWire
import Testing

@testable import TallyCore

/// Periods, previous periods and calendar buckets across month, quarter and year boundaries.
@Suite struct KpiPeriodsTests {
  static func parse(_ from: String, _ to: String, _ bucket: String) -> KpiPeriods? {
    var checker = FieldChecker()
    return KpiPeriods.parse(from: from, to: to, bucket: bucket, &checker)
  }

  static func spans(_ periods: KpiPeriods?) -> [String] {
    periods?.buckets.map { "\($0.from)..\($0.to)" } ?? []
  }

  @Test func quarterBucketsCrossTheYearAndAreClipped() throws {
    let periods = Self.parse("2025-11-15", "2026-05-10", "quarter")
    #expect(Self.spans(periods) == ["2025-11-15..2026-01-01", "2026-01-01..2026-04-01", "2026-04-01..2026-05-10"])
    // 176 days before 2025-11-15.
    #expect(periods?.previous.from.description == "2025-05-23" && periods?.previous.to.description == "2025-11-15")
  }

  @Test func monthBucketsFollowTheCalendarIncludingLeapFebruary() {
    #expect(
      Self.spans(Self.parse("2028-01-31", "2028-04-02", "month")) == [
        "2028-01-31..2028-02-01", "2028-02-01..2028-03-01", "2028-03-01..2028-04-01", "2028-04-01..2028-04-02",
      ])
    #expect(Self.parse("2028-02-01", "2028-03-01", "day")?.buckets.count == 29)
  }

  @Test func weekBucketsStartOnMondayAndTheFirstIsClipped() {
    // 2025-12-31 is a Wednesday; 2026-01-05 a Monday.
    #expect(
      Self.spans(Self.parse("2025-12-31", "2026-01-14", "week")) == [
        "2025-12-31..2026-01-05", "2026-01-05..2026-01-12", "2026-01-12..2026-01-14",
      ])
  }

  @Test func badPeriodsNameTheirField() {
    var checker = FieldChecker()
    _ = KpiPeriods.parse(from: "2026-01-01", to: "2029-06-01", bucket: "none", &checker)
    _ = KpiPeriods.parse(from: "2026-1-1", to: "2026-02-01", bucket: "year", &checker)
    #expect(checker.violations.map(\.field) == ["to", "from", "bucket"])
  }
}
