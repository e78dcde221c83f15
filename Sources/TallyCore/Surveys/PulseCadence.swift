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
