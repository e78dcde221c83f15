import Foundation
import TallyWire

/// Lenient parsers for spreadsheet cells: each takes what CRM exports write and names the field
/// and the expected form when it cannot.
public enum ImportParsing {
  public struct ValueError: Error, CustomStringConvertible {
    public var field: String
    public var problem: String
    public var description: String { "\(self.field): \(self.problem)" }

    public init(field: String, problem: String) {
      self.field = field
      self.problem = problem
    }
  }

  /// Microseconds since 1970 (UTC) from 2026-03-01, 2026-03-01 10:00[:00[.123]], 2026-03-01T10:00:00Z,
  /// …+02:00, or Unix seconds (10 digits) / milliseconds (13 digits). Digits are read by hand: no
  /// DateFormatter, so a million rows parse in well under a second.
  public static func timestamp(_ text: String, field: String) throws -> Int64 {
    let bytes = Array(text.utf8)
    let fail = ValueError(
      field: field, problem: "\"\(text.prefix(40))\" is not a time; use 2026-03-01T10:00:00Z or 2026-03-01")
    if !bytes.isEmpty, bytes.allSatisfy({ $0 >= 48 && $0 <= 57 }), let number = Int64(text) {
      switch bytes.count {
      case 9...10: return number * 1_000_000
      case 12...13: return number * 1_000
      default: throw fail
      }
    }
    var index = 0
    func digits(_ count: Int) -> Int? {
      guard index + count <= bytes.count else { return nil }
      var value = 0
      for byte in bytes[index..<index + count] {
        guard byte >= 48 && byte <= 57 else { return nil }
        value = value * 10 + Int(byte - 48)
      }
      index += count
      return value
    }
    func expect(_ byte: UInt8) -> Bool {
      guard index < bytes.count, bytes[index] == byte else { return false }
      index += 1
      return true
    }
    guard let year = digits(4), expect(45), let month = digits(2), expect(45), let day = digits(2),
      (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year)
    else { throw fail }
    var seconds = Int64(daysFromCivil(year: year, month: month, day: day)) * 86_400
    var micros: Int64 = 0
    if index < bytes.count {
      guard expect(84) || expect(32), let hour = digits(2), expect(58), let minute = digits(2), hour < 24, minute < 60
      else { throw fail }
      var second = 0
      if expect(58) {
        guard let value = digits(2), value < 61 else { throw fail }
        second = value
        if expect(46) || expect(44) {
          var scale: Int64 = 100_000
          var any = false
          while index < bytes.count, bytes[index] >= 48, bytes[index] <= 57 {
            micros += Int64(bytes[index] - 48) * scale
            scale /= 10
            index += 1
            any = true
          }
          guard any else { throw fail }
        }
      }
      seconds += Int64(hour * 3600 + minute * 60 + second)
      if index < bytes.count {
        if expect(90) || expect(122) {
          // Z: already UTC.
        } else if bytes[index] == 43 || bytes[index] == 45 {
          let sign: Int64 = bytes[index] == 43 ? 1 : -1
          index += 1
          guard let offsetHours = digits(2), offsetHours < 24 else { throw fail }
          let colon = expect(58)
          let offsetMinutes = digits(2)
          // +02:00, +0200 or +02; a colon needs its minutes, and minutes stay under 60.
          guard offsetMinutes.map({ $0 < 60 }) ?? !colon else { throw fail }
          seconds -= sign * Int64(offsetHours * 3600 + (offsetMinutes ?? 0) * 60)
        }
        guard index == bytes.count else { throw fail }
      }
    }
    return seconds * 1_000_000 + micros
  }

  /// How a file writes the decimal separator of its amounts.
  public enum DecimalSeparator: Sendable {
    /// 1,234.56: a comma stands only between thousands.
    case point
    /// 1.234,56 or 1 234,56, as a spreadsheet set to a European locale writes them.
    case comma

    /// A semicolon-separated file comes from such a spreadsheet (CSVRows takes it for one too), so
    /// its amounts have a decimal comma; any other file's have a decimal point.
    public init(csvDelimiter: UInt8) {
      self = csvDelimiter == UInt8(ascii: ";") ? .comma : .point
    }

    var character: Character { self == .point ? "." : "," }
    /// The other mark, which may stand only between thousands.
    var thousands: Character { self == .point ? "," : "." }
    var name: String { self == .point ? "point" : "comma" }
    var thousandsName: String { self == .point ? "comma" : "point" }
    var example: String { self == .point ? "1234.56" : "1234,56" }
  }

  /// Whole minor units from "1234", "1,234.56", "$1,234.5", "€ 12" (two decimals by default), or
  /// with a decimal comma "1.234,56" and "1 234,5". A thousands separator must stand before exactly
  /// three digits: "12,50" in a file of decimal points may mean 12.50 or 1250, and is refused.
  public static func money(
    _ text: String, field: String, minorDigits: Int = 2, decimalSeparator: DecimalSeparator = .point
  ) throws -> Int64 {
    // Spaces are cut only around the number: inside it they group thousands, checked as such ("12 50"
    // was read as 1250).
    var cleaned = Substring(text.filter { !"$€£¥".contains($0) }.trimmingCharacters(in: .whitespaces))
    let negative = cleaned.hasPrefix("-")
    if negative || cleaned.hasPrefix("+") { cleaned = cleaned.dropFirst() }
    let fail = ValueError(
      field: field, problem: "\"\(text.prefix(40))\" is not an amount; use \(decimalSeparator.example)")
    let parts = cleaned.split(separator: decimalSeparator.character, omittingEmptySubsequences: false)
    guard parts.count <= 2 else { throw fail }
    guard let wholeDigits = Self.ungrouped(parts[0], decimalSeparator) else {
      // The separator `ungrouped` judged: the file's other mark if there is one, else a space.
      let mark = parts[0].contains(decimalSeparator.thousands) ? "a \(decimalSeparator.thousandsName)" : "a space"
      throw ValueError(
        field: field,
        problem: "\"\(text.prefix(40))\" has \(mark) that does not stand before three digits, so it cannot be told "
          + "from a decimal \(decimalSeparator.thousandsName); this file's amounts take a decimal "
          + "\(decimalSeparator.name): \(decimalSeparator.example)")
    }
    let fractionDigits = parts.count == 2 ? String(parts[1]) : ""
    guard !(wholeDigits + fractionDigits).isEmpty, (wholeDigits + fractionDigits).allSatisfy(Self.isDigit) else {
      throw fail
    }
    guard fractionDigits.count <= minorDigits else {
      throw ValueError(field: field, problem: "\"\(text.prefix(40))\" has more than \(minorDigits) decimals")
    }
    // A whole part past 64 bits is far above the largest amount: the check below refuses it.
    let whole = Int64(wholeDigits.isEmpty ? "0" : wholeDigits) ?? .max
    let paddedFraction = fractionDigits.padding(toLength: minorDigits, withPad: "0", startingAt: 0)
    guard let fraction = paddedFraction.isEmpty ? 0 : Int64(paddedFraction) else { throw fail }
    let scale = Int64(pow(10, Double(minorDigits)))
    let (scaled, overflow) = whole.multipliedReportingOverflow(by: scale)
    guard !overflow, scaled <= Self.maxMoney - fraction else {
      throw ValueError(
        field: field,
        problem: "\"\(text.prefix(40))\" is more than the largest amount, 10^15 minor units "
          + "(10,000,000,000,000.00 with two decimals)")
    }
    let magnitude = scaled + fraction
    return negative ? -magnitude : magnitude
  }

  /// The largest amount the server stores, in minor units (10^15).
  public static let maxMoney = FieldLimits.maxMoney

  /// The digits of a whole number without its thousands separators (the file's other mark, or a
  /// space of any width: the first of them it holds); nil when one stands anywhere but before a
  /// group of three digits. A second kind of separator stays in, for the digit check to refuse.
  private static func ungrouped(_ whole: Substring, _ decimalSeparator: DecimalSeparator) -> String? {
    guard let separator = [decimalSeparator.thousands, " ", "\u{00A0}", "\u{202F}"].first(where: whole.contains) else {
      return String(whole)
    }
    let groups = whole.split(separator: separator, omittingEmptySubsequences: false)
    guard (1...3).contains(groups[0].count), groups.dropFirst().allSatisfy({ $0.count == 3 }) else { return nil }
    return groups.joined()
  }

  /// An ASCII digit alone: "5" followed by a combining accent is one Character that sorts between
  /// "0" and "9", and its decimals were then read as 0.
  private static func isDigit(_ character: Character) -> Bool {
    character.isASCII && ("0"..."9").contains(character)
  }

  /// An integer, allowing thousands separators before groups of three digits: "1,200", "1 200"
  /// (or a no-break space), and "1.200" where amounts take a decimal comma; but not "1,5" (a
  /// decimal comma, which would be read as 15).
  public static func integer(_ text: String, field: String, decimalSeparator: DecimalSeparator = .point) throws -> Int64
  {
    var digits = Substring(text.trimmingCharacters(in: .whitespaces))
    let sign = digits.first == "-" ? "-" : ""
    if digits.first == "-" || digits.first == "+" { digits = digits.dropFirst() }
    guard let plain = Self.ungrouped(digits, decimalSeparator), plain.allSatisfy(Self.isDigit),
      let value = Int64(sign + plain)
    else {
      throw ValueError(
        field: field,
        problem: "\"\(text.prefix(40))\" is not a whole number (a \(decimalSeparator.thousandsName) or a space may "
          + "only stand before groups of three digits)")
    }
    return value
  }

  public static func bool(_ text: String, field: String) throws -> Bool {
    switch text.lowercased() {
    case "true", "yes", "y", "1", "x": return true
    case "false", "no", "n", "0", "": return false
    default: throw ValueError(field: field, problem: "\"\(text.prefix(40))\" is not yes/no, true/false or 1/0")
    }
  }

  /// A target tier from "2", "Tier 2", "T2" or "2.0" (a spreadsheet's number); "none" or "0" is not
  /// a target. A sign or a fraction is refused: "-1" once read as tier 1, "2.5" as 25.
  public static func tier(_ text: String, field: String) throws -> UInt32 {
    var rest = Substring(text.trimmingCharacters(in: .whitespaces).lowercased())
    if rest == "none" || rest == "no" { return 0 }
    for prefix in ["tier", "t"] where rest.hasPrefix(prefix) {
      rest = rest.dropFirst(prefix.count).drop { $0 == " " || $0 == "-" || $0 == "_" }
      break
    }
    if let point = rest.firstIndex(of: "."), rest[rest.index(after: point)...].allSatisfy({ $0 == "0" }) {
      rest = rest[..<point]
    }
    guard (1...3).contains(rest.count), rest.allSatisfy(Self.isDigit), let tier = UInt32(rest) else {
      throw ValueError(field: field, problem: "\"\(text.prefix(40))\" is not a tier; use 0 to 3 or Tier 1")
    }
    return tier
  }

  /// "https://www.Example.com/about" → "example.com".
  public static func domain(_ text: String) -> String {
    var value = text.lowercased().trimmingCharacters(in: .whitespaces)
    if let scheme = value.range(of: "://") { value = String(value[scheme.upperBound...]) }
    if let slash = value.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) { value = String(value[..<slash]) }
    if value.hasPrefix("www.") { value = String(value.dropFirst(4)) }
    return value
  }

  static func daysIn(month: Int, year: Int) -> Int {
    switch month {
    case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
    case 4, 6, 9, 11: 30
    default: 31
    }
  }

  /// Howard Hinnant's days-from-civil: days since 1970-01-01.
  static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
    let y = month <= 2 ? year - 1 : year
    let era = (y >= 0 ? y : y - 399) / 400
    let yoe = y - era * 400
    let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
    return era * 146_097 + doe - 719_468
  }
}

/// One line of progress for a long import: bar, percent, rows, rate and time left.
public struct ImportProgress: Sendable {
  public let totalBytes: Int
  private let started = ContinuousClock.now
  private var lastRender: ContinuousClock.Instant?

  public init(totalBytes: Int) { self.totalBytes = totalBytes }

  /// True at most ten times a second, so drawing never slows the import.
  public mutating func shouldRender(now: ContinuousClock.Instant = .now) -> Bool {
    if let last = self.lastRender, now - last < .milliseconds(100) { return false }
    self.lastRender = now
    return true
  }

  public func line(rows: Int, bytes: Int, now: ContinuousClock.Instant = .now) -> String {
    let seconds = max(Self.seconds(now - self.started), 0.001)
    let fraction = self.totalBytes > 0 ? min(Double(bytes) / Double(self.totalBytes), 1) : 0
    let filled = Int(fraction * 24)
    let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: 24 - filled)
    let rate = Double(rows) / seconds
    let eta = fraction > 0 ? seconds * (1 - fraction) / fraction : 0
    return "[\(bar)] \(String(format: "%3d", Int(fraction * 100)))%  \(Self.grouped(rows)) rows  "
      + "\(Self.grouped(Int(rate))) rows/s  ETA \(Self.clock(eta))"
  }

  public func elapsedSeconds(now: ContinuousClock.Instant = .now) -> Double { Self.seconds(now - self.started) }

  static func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
  }

  /// 1234567 → "1,234,567".
  public static func grouped(_ value: Int) -> String {
    let digits = String(value.magnitude)
    var out = ""
    for (index, character) in digits.enumerated() {
      if index > 0 && (digits.count - index) % 3 == 0 { out += "," }
      out.append(character)
    }
    return (value < 0 ? "-" : "") + out
  }

  static func clock(_ seconds: Double) -> String {
    let total = Int(seconds.rounded())
    return total >= 3600
      ? String(format: "%d:%02d:%02d", total / 3600, total / 60 % 60, total % 60)
      : String(format: "%d:%02d", total / 60, total % 60)
  }
}
