public import Foundation

/// When a pulse survey's rounds open and close: one round per period, opening at 00:00 UTC of the
/// period's first day and staying open `openDays` days.
public struct PulseCadence: Sendable, Hashable {
  public enum Period: String, Sendable, CaseIterable {
    case weekly, biweekly, monthly, quarterly

    /// The shortest length of the period in days, the most a round may stay open.
    public var minimumDays: Int {
      switch self {
      case .weekly: 7
      case .biweekly: 14
      case .monthly: 28
      case .quarterly: 90
      }
    }

    public var defaultOpenDays: Int {
      switch self {
      case .weekly: 5
      case .biweekly, .monthly: 7
      case .quarterly: 14
      }
    }
  }

  public let period: Period
  /// ISO weekday 1 (Monday) … 7 for weekly and biweekly; day of month 1 … 28 otherwise.
  public let openDay: Int
  public let openDays: Int
  /// No round opens before this day; biweekly fortnights count from the first open day on or after it.
  public let anchor: CivilDay

  public init(period: Period, openDay: Int, openDays: Int, anchor: CivilDay) {
    self.period = period
    self.openDay = openDay
    self.openDays = openDays
    self.anchor = anchor
  }

  /// The first day of the latest period that started on or before `day`, or nil before the first.
  public func periodStart(onOrBefore day: CivilDay) -> CivilDay? {
    let start: CivilDay
    switch self.period {
    case .weekly, .biweekly:
      let step = self.period == .weekly ? 7 : 14
      let first = self.firstWeekday(onOrAfter: self.anchor)
      guard day.dayNumber >= first.dayNumber else { return nil }
      start = CivilDay(dayNumber: first.dayNumber + (day.dayNumber - first.dayNumber) / step * step)
    case .monthly, .quarterly:
      let months = self.period == .monthly ? 1 : 3
      var year = day.year
      var month = day.month - (day.month - 1) % months
      var candidate = CivilDay(year: year, month: month, day: self.openDay)
      if candidate.dayNumber > day.dayNumber {
        month -= months
        if month < 1 {
          month += 12
          year -= 1
        }
        candidate = CivilDay(year: year, month: month, day: self.openDay)
      }
      start = candidate
    }
    return start.dayNumber >= self.anchor.dayNumber ? start : nil
  }

  /// The round that should be open at `instant`: its period's first day, opening and closing times.
  public func roundOpen(at instant: Date) -> (period: CivilDay, opensAt: Date, closesAt: Date)? {
    let today = CivilDay(instant)
    guard let start = self.periodStart(onOrBefore: today) else { return nil }
    let opensAt = start.midnight
    let closesAt = CivilDay(dayNumber: start.dayNumber + self.openDays).midnight
    guard instant >= opensAt, instant < closesAt else { return nil }
    return (start, opensAt, closesAt)
  }

  private func firstWeekday(onOrAfter day: CivilDay) -> CivilDay {
    let offset = (self.openDay - day.isoWeekday + 7) % 7
    return CivilDay(dayNumber: day.dayNumber + offset)
  }
}

/// A UTC calendar day, counted as days since 1970-01-01.
public struct CivilDay: Sendable, Hashable, Comparable, CustomStringConvertible {
  public let dayNumber: Int

  public init(dayNumber: Int) { self.dayNumber = dayNumber }

  public init(_ instant: Date) {
    self.dayNumber = Int((instant.timeIntervalSince1970 / 86_400).rounded(.down))
  }

  /// Howard Hinnant's days_from_civil.
  public init(year: Int, month: Int, day: Int) {
    let y = month <= 2 ? year - 1 : year
    let era = (y >= 0 ? y : y - 399) / 400
    let yearOfEra = y - era * 400
    let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
    let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
    self.dayNumber = era * 146_097 + dayOfEra - 719_468
  }

  /// (year, month, day), Hinnant's civil_from_days.
  public var civil: (year: Int, month: Int, day: Int) {
    let z = self.dayNumber + 719_468
    let era = (z >= 0 ? z : z - 146_096) / 146_097
    let dayOfEra = z - era * 146_097
    let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
    let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
    let mp = (5 * dayOfYear + 2) / 153
    let day = dayOfYear - (153 * mp + 2) / 5 + 1
    let month = mp < 10 ? mp + 3 : mp - 9
    return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
  }

  public var year: Int { self.civil.year }
  public var month: Int { self.civil.month }
  public var day: Int { self.civil.day }
  /// 1 = Monday … 7 = Sunday (1970-01-01 was a Thursday).
  public var isoWeekday: Int { ((self.dayNumber % 7) + 7 + 3) % 7 + 1 }
  public var midnight: Date { Date(timeIntervalSince1970: Double(self.dayNumber) * 86_400) }

  public var description: String {
    let (y, m, d) = self.civil
    return String(format: "%04d-%02d-%02d", y, m, d)
  }

  public static func < (lhs: CivilDay, rhs: CivilDay) -> Bool { lhs.dayNumber < rhs.dayNumber }
}
