import Foundation
import SwiftProtobuf
import TallyWire

/// Collects every violation of one request (not just the first), each naming its field path.
struct FieldChecker {
  private(set) var violations: [RPCError.FieldViolation] = []
  /// Prepended to every field, e.g. "account." for the account inside UpsertAccountRequest.
  var prefix: String

  init(prefix: String = "") { self.prefix = prefix }

  /// Times before 1900 or after 2200 are typos, and would not fit the KPI arithmetic anyway.
  static let earliestMicros: Int64 = -2_208_988_800_000_000
  static let latestMicros: Int64 = 7_258_118_400_000_000

  /// Violations past `RPCError.maxFieldViolations` are only counted: a request of two million bad
  /// entries must not build (and send) two million descriptions.
  private(set) var omitted = 0

  mutating func add(_ field: @autoclosure () -> String, _ description: @autoclosure () -> String) {
    let prefix = self.prefix
    self.append(.init(field: prefix + field(), description: description()))
  }

  /// The violations of another check's INVALID_ARGUMENT, whose fields are whole paths already,
  /// and its count of those it left out.
  mutating func add(_ error: RPCError) {
    for violation in error.fieldViolations { self.append(violation) }
    self.omitted += error.omittedFieldViolations
  }

  /// Keeps `violation` while there is room under the cap, else only counts it (unbuilt).
  private mutating func append(_ violation: @autoclosure () -> RPCError.FieldViolation) {
    guard self.violations.count < RPCError.maxFieldViolations else {
      self.omitted += 1
      return
    }
    self.violations.append(violation())
  }

  func check() throws {
    guard self.violations.isEmpty else { throw RPCError.invalidArgument(self.violations, omitted: self.omitted) }
  }

  /// A value `Validation.collecting` gave, once every check passed: all violations are thrown
  /// first, so a nil left over is the server's bug.
  func checked<T>(_ value: T?) throws -> T {
    try self.check()
    guard let value else { throw RPCError(code: .internalError, message: "a check passed without a value") }
    return value
  }

  /// A client-chosen id: 1 to 200 characters without control characters.
  mutating func id(_ value: String, _ field: String) {
    if value.isEmpty {
      self.add(field, "is required: 1 to 200 characters")
    } else {
      self.text(value, field, max: 200)
    }
  }

  /// The id of a row being created or replaced: an id, and none that could pass for another. Ids
  /// compare by their bytes, so "acme" with a zero-width space or a trailing space stood beside
  /// "acme", and a contact naming "acme" was refused for an account the list showed. (Reads still
  /// take such ids, so rows stored before this check stay reachable.)
  mutating func newID(_ value: String, _ field: String) {
    self.id(value, field)
    guard !value.isEmpty else { return }
    if value.first!.isWhitespace || value.last!.isWhitespace {
      self.add(field, "must not begin or end with a space")
    } else if let hidden = value.unicodeScalars.first(where: \.isInvisible) {
      self.add(
        field,
        "must not contain \(hidden.codePoint), an invisible character: "
          + "ids compare by their bytes, so one that looks like another is another")
    }
  }

  /// Free text: at most `max` characters (at least one when `required`), no control characters
  /// (tabs and line breaks only when `multiline`: a line feed, or a carriage return and a line
  /// feed, as a browser's text box sends them; a carriage return alone would let a comment
  /// overwrite its own line on a terminal). Characters are Unicode code points, as PostgreSQL's
  /// `length` counts them in the tables' CHECKs.
  mutating func text(_ value: String, _ field: String, max: Int = 200, multiline: Bool = false, required: Bool = false)
  {
    if required && (value.isEmpty || value.unicodeScalars.count > max) {
      self.add(field, "must be 1 to \(max) characters, got \(value.unicodeScalars.count)")
    } else if required && value.allSatisfy(\.isWhitespace) {
      self.add(field, "must not be blank")
    } else if value.unicodeScalars.count > max {
      self.add(field, "must be at most \(max) characters (Unicode code points), got \(value.unicodeScalars.count)")
    } else if Self.containsRefusedControl(value, multiline: multiline) {
      self.add(
        field,
        multiline
          ? "must not contain control characters other than tabs and line breaks (a line feed, or a carriage "
            + "return and a line feed)"
          : "must not contain control characters")
    }
  }

  private static func containsRefusedControl(_ value: String, multiline: Bool) -> Bool {
    var scalars = value.unicodeScalars.makeIterator()
    var next = scalars.next()
    while let scalar = next {
      next = scalars.next()
      guard scalar.properties.generalCategory == .control, !multiline || !["\n", "\t"].contains(scalar) else {
        continue
      }
      guard multiline, scalar == "\r", next == "\n" else { return true }
    }
    return false
  }

  /// A lower-case word from a fixed list; empty means `defaultValue` when there is one.
  @discardableResult
  mutating func oneOf(_ value: String, _ field: String, _ allowed: [String], defaultValue: String? = nil) -> String {
    if value.isEmpty, let defaultValue { return defaultValue }
    guard allowed.contains(value) else {
      let shown = value.isEmpty ? "nothing" : "\"\(value.prefix(40))\""
      self.add(field, "must be one of \(allowed.joined(separator: ", ")); got \(shown)")
      return value
    }
    return value
  }

  /// Money and counts: 0 or more.
  mutating func nonNegative(_ value: Int64?, _ field: String) {
    if let value, value < 0 { self.add(field, "must be 0 or more, got \(value)") }
  }

  /// The most an amount of money may be, in minor units (10^15): the contract's, which the
  /// client's importers check too.
  static let maxMoney = FieldLimits.maxMoney

  /// An amount of money in minor units: 0 to `maxMoney`.
  mutating func money(_ value: Int64?, _ field: String) {
    guard let value, !(0...Self.maxMoney).contains(value) else { return }
    self.add(field, "must be 0 to 10^15 minor units, got \(value)")
  }

  static let maxMapEntries = 100

  /// A string map (attributes, properties): at most 100 entries, keys 1–100 characters, values at most 2,000.
  mutating func map(_ map: [String: String], _ field: String) {
    if map.count > Self.maxMapEntries {
      self.add(field, "must have at most \(Self.maxMapEntries) entries, got \(map.count)")
      return
    }
    for (key, value) in map.sorted(by: { $0.key < $1.key }) {
      if key.isEmpty || key.unicodeScalars.count > 100
        || key.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
      {
        self.add("\(field)[\(key.prefix(40))]", "keys must be 1 to 100 characters without control characters")
        return
      }
      if value.unicodeScalars.count > 2_000 {
        self.add("\(field)[\(key)]", "values must be at most 2,000 characters, got \(value.unicodeScalars.count)")
        return
      }
      // PostgreSQL's text and jsonb cannot hold U+0000; every other character is kept as sent.
      if value.unicodeScalars.contains("\u{0}") {
        self.add("\(field)[\(key)]", "values must not contain U+0000 (NUL)")
        return
      }
    }
  }

  /// A timestamp as microseconds since the epoch; nil when absent (an error when `required`).
  mutating func timestamp(_ value: Google_Protobuf_Timestamp?, _ field: String, required: Bool = false) -> Int64? {
    guard let value else {
      if required { self.add(field, "is required") }
      return nil
    }
    // From the first second of 1900 (it was refused) up to, not including, 2200-01-01T00:00:00Z.
    guard value.nanos >= 0, value.nanos < 1_000_000_000, value.seconds >= Self.earliestMicros / 1_000_000,
      value.seconds < Self.latestMicros / 1_000_000
    else {
      self.add(field, "must be a time from 1900-01-01T00:00:00Z to before 2200-01-01T00:00:00Z, nanos 0 to 999,999,999")
      return nil
    }
    return value.seconds * 1_000_000 + Int64(value.nanos / 1000)
  }
}

/// Timestamps in and out of SQL as microseconds since the epoch, exactly (no floating point).
enum Micros {
  /// SQL that turns a bigint parameter into a timestamptz.
  static func sql(_ parameter: String) -> String {
    "('epoch'::timestamptz + \(parameter)::bigint * interval '1 microsecond')"
  }

  /// SQL that reads a timestamptz column as microseconds (a bigint).
  static func of(_ name: String) -> String { "(extract(epoch FROM \(name)) * 1000000)::bigint" }

  /// `of(name)` under the column's name (without a table alias).
  static func column(_ name: String) -> String {
    let alias = name.split(separator: ".").last.map(String.init) ?? name
    return "\(Self.of(name)) AS \(alias)"
  }

  static func timestamp(_ micros: Int64) -> Google_Protobuf_Timestamp {
    Google_Protobuf_Timestamp(microseconds: micros)
  }
}

/// String maps stored as jsonb.
enum JSONMap {
  static func encode(_ map: [String: String]) -> String {
    var out = "{"
    for (index, (key, value)) in map.sorted(by: { $0.key < $1.key }).enumerated() {
      if index > 0 { out += "," }
      appendQuoted(key, to: &out)
      out += ":"
      appendQuoted(value, to: &out)
    }
    return out + "}"
  }

  static func decode(_ text: String?) -> [String: String] {
    guard let text, let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
      return [:]
    }
    return object.compactMapValues { $0 as? String }
  }

  /// A JSON string literal; control characters and quotes escaped.
  static func appendQuoted(_ value: String, to out: inout String) {
    out += "\""
    for scalar in value.unicodeScalars {
      switch scalar {
      case "\"": out += "\\\""
      case "\\": out += "\\\\"
      case "\n": out += "\\n"
      case "\r": out += "\\r"
      case "\t": out += "\\t"
      case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
      default: out.unicodeScalars.append(scalar)
      }
    }
    out += "\""
  }
}

extension Unicode.Scalar {
  /// A format character or a line or paragraph separator (U+200B, U+FEFF, U+00AD, U+2028…):
  /// text that shows nothing, or breaks a line where none is seen.
  var isInvisible: Bool {
    switch self.properties.generalCategory {
    case .format, .lineSeparator, .paragraphSeparator: true
    default: false
    }
  }
}
