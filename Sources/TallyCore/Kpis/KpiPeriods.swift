/// The periods one GetKpis call computes: the requested one, the one of equal length before it,
/// and the trend buckets, all in whole UTC days `[from, to)`.
struct KpiPeriods: Equatable {
  enum Bucket: String, CaseIterable {
    case none, day, week, month, quarter
  }

  struct Period: Equatable {
    var from: CivilDay
    var to: CivilDay
  }

  /// At most three years, so one call stays one dashboard and not a table scan.
  static let maxDays = 3 * 366
  /// A trend has at most this many buckets (three years of days would be 1,098).
  static let maxBuckets = 1_100

  let current: Period
  let previous: Period
  let buckets: [Period]

  /// Validates `from`, `to` and `bucket`, naming the field of each problem; nil when any is bad.
  static func parse(from: String, to: String, bucket: String, _ checker: inout FieldChecker) -> KpiPeriods? {
    let start = Self.day(from, "from", &checker)
    let end = Self.day(to, "to", &checker)
    let kind = Bucket(rawValue: bucket.isEmpty ? "none" : bucket)
    if kind == nil { checker.oneOf(bucket, "bucket", Bucket.allCases.map(\.rawValue)) }
    guard let start, let end, let kind else { return nil }
    guard end > start else {
      checker.add("to", "must be after from (\(from)); the period is [from, to)")
      return nil
    }
    guard end.dayNumber - start.dayNumber <= Self.maxDays else {
      checker.add("to", "the period must be at most \(Self.maxDays) days, got \(end.dayNumber - start.dayNumber)")
      return nil
    }
    return KpiPeriods(Period(from: start, to: end), bucket: kind)
  }

  init(_ current: Period, bucket: Bucket) {
    self.current = current
    let length = current.to.dayNumber - current.from.dayNumber
    self.previous = Period(from: CivilDay(dayNumber: current.from.dayNumber - length), to: current.from)
    self.buckets = Self.buckets(current, bucket)
  }

  /// Every period of the call: current, previous, then the buckets.
  var all: [Period] { [self.current, self.previous] + self.buckets }

  static func day(_ text: String, _ field: String, _ checker: inout FieldChecker) -> CivilDay? {
    guard let day = CivilDay(calendarDate: text, years: 0...9999) else {
      checker.add(field, "must be a UTC date YYYY-MM-DD, got \"\(text.prefix(40))\"")
      return nil
    }
    guard day.year >= 2000, day.year < 2200 else {
      checker.add(field, "must be between 2000-01-01 and 2199-12-31, got \(text)")
      return nil
    }
    return day
  }

  /// Calendar buckets (ISO weeks, months, quarters) clipped to the period.
  static func buckets(_ period: Period, _ bucket: Bucket) -> [Period] {
    guard bucket != .none, period.to > period.from else { return [] }
    var result: [Period] = []
    var start = Self.bucketStart(period.from, bucket)
    while start < period.to, result.count < Self.maxBuckets {
      let next = Self.nextBucket(start, bucket)
      result.append(Period(from: max(start, period.from), to: min(next, period.to)))
      start = next
    }
    return result
  }

  static func bucketStart(_ day: CivilDay, _ bucket: Bucket) -> CivilDay {
    switch bucket {
    case .none, .day: return day
    case .week: return CivilDay(dayNumber: day.dayNumber - (day.isoWeekday - 1))
    case .month: return CivilDay(year: day.year, month: day.month, day: 1)
    case .quarter: return CivilDay(year: day.year, month: (day.month - 1) / 3 * 3 + 1, day: 1)
    }
  }

  static func nextBucket(_ start: CivilDay, _ bucket: Bucket) -> CivilDay {
    switch bucket {
    case .none, .day: return CivilDay(dayNumber: start.dayNumber + 1)
    case .week: return CivilDay(dayNumber: start.dayNumber + 7)
    case .month, .quarter:
      let months = bucket == .month ? 1 : 3
      let index = start.year * 12 + (start.month - 1) + months
      return CivilDay(year: index / 12, month: index % 12 + 1, day: 1)
    }
  }
}
