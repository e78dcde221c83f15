public import Foundation

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

extension CivilDay {
  /// "YYYY-MM-DD", four, two and two ASCII digits: nothing else reaches the arithmetic, so no
  /// text can overflow it. The month and day are not checked here (callers compare `description`).
  init?(isoDate: String) {
    let bytes = Array(isoDate.utf8)
    guard bytes.count == 10, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-") else { return nil }
    func number(_ digits: ArraySlice<UInt8>) -> Int? {
      var value = 0
      for digit in digits {
        guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(digit) else { return nil }
        value = value * 10 + Int(digit - UInt8(ascii: "0"))
      }
      return value
    }
    guard let year = number(bytes[0..<4]), let month = number(bytes[5..<7]), let day = number(bytes[8..<10]) else {
      return nil
    }
    self.init(year: year, month: month, day: day)
  }

  /// A real calendar day written YYYY-MM-DD (no 2026-02-30, no 2026-13-01) in `years`.
  init?(calendarDate text: String, years: ClosedRange<Int>) {
    guard let day = CivilDay(isoDate: text), day.description == text, years.contains(day.year) else { return nil }
    self = day
  }
}
