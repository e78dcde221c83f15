public import Foundation

/// `tally kpi --period`: a year (2026), a quarter (2026-Q1), a month (2026-03), or relative to
/// today: last-quarter (the default), last-month, last-year, this-quarter, this-month; all UTC.
public enum KpiPeriodArgument {
  /// `[from, to)` as YYYY-MM-DD, or nil when `text` is none of the forms above.
  public static func parse(_ text: String, today: Date = Date()) -> (from: String, to: String)? {
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = TimeZone(identifier: "UTC")!
    let now = calendar.dateComponents([.year, .month], from: today)
    let (year, month) = (now.year!, now.month!)
    let quarterStart = (month - 1) / 3 * 3 + 1
    switch text {
    case "last-quarter": return Self.months(year, quarterStart - 3, count: 3)
    case "this-quarter": return Self.months(year, quarterStart, count: 3)
    case "last-month": return Self.months(year, month - 1, count: 1)
    case "this-month": return Self.months(year, month, count: 1)
    case "last-year": return Self.months(year - 1, 1, count: 12)
    default: break
    }
    let parts = text.split(separator: "-", omittingEmptySubsequences: false).map(String.init)
    guard let first = parts.first, first.count == 4, let periodYear = Int(first), periodYear >= 2000,
      periodYear < 2200
    else { return nil }
    switch parts.count {
    case 1: return Self.months(periodYear, 1, count: 12)
    case 2 where parts[1].count == 2 && parts[1].hasPrefix("Q"):
      guard let quarter = Int(parts[1].dropFirst()), (1...4).contains(quarter) else { return nil }
      return Self.months(periodYear, (quarter - 1) * 3 + 1, count: 3)
    case 2 where parts[1].count == 2:
      guard let periodMonth = Int(parts[1]), (1...12).contains(periodMonth) else { return nil }
      return Self.months(periodYear, periodMonth, count: 1)
    default: return nil
    }
  }

  /// `count` months from `month` of `year` (a month of 0 or less counts back into earlier years).
  static func months(_ year: Int, _ month: Int, count: Int) -> (from: String, to: String) {
    func first(_ index: Int) -> String {
      let year = Int((Double(index) / 12).rounded(.down))
      return String(format: "%04d-%02d-01", year, index - year * 12 + 1)
    }
    let start = year * 12 + (month - 1)
    return (first(start), first(start + count))
  }
}
