import Foundation
import TallyWire

/// Checks shared by every service, each naming the field and what is allowed.
enum Validation {
  static let defaultPageSize = 100
  static let maxPageSize = 1_000

  /// 1 to 200 characters (Unicode code points, as the tables' CHECKs count), no control characters.
  static func name(_ value: String, field: String) -> [RPCError.FieldViolation] {
    var checker = FieldChecker()
    checker.text(value, field, required: true)
    return checker.violations
  }

  /// Whether `value` is `length` code points, each one `allowed` accepts. Checked without a regular
  /// expression, whose `$` also matches before a final line break ("EUR\n" passed `^[A-Z]{3}$`).
  static func consists(
    _ value: String, length: ClosedRange<Int>, of allowed: (Unicode.Scalar) -> Bool
  ) -> Bool {
    length.contains(value.unicodeScalars.count) && value.unicodeScalars.allSatisfy(allowed)
  }

  /// Each index of `values` whose value an earlier index holds, with that earlier index. Values are
  /// compared by their UTF-8 bytes, as PostgreSQL compares ids: Swift's `==` would also equate "é"
  /// and "e" + U+0301, which are two ids there.
  static func repeats(_ values: [String]) -> [(index: Int, first: Int)] {
    var firstIndex: [ExactID: Int] = [:]
    var repeats: [(index: Int, first: Int)] = []
    for (index, value) in values.enumerated() {
      if let first = firstIndex[ExactID(value)] {
        repeats.append((index, first))
      } else {
        firstIndex[ExactID(value)] = index
      }
    }
    return repeats
  }

  /// `check`'s value, or nil with its field violations added to `checker`, so that the request's
  /// other fields are checked too and every violation is answered at once. Other errors are thrown.
  static func collecting<T>(_ checker: inout FieldChecker, _ check: () throws -> T) throws -> T? {
    do {
      return try check()
    } catch let error as RPCError where error.code == .invalidArgument && !error.fieldViolations.isEmpty {
      checker.add(error)
      return nil
    }
  }

  /// A UUID in any case, returned lower-case.
  static func uuid(_ value: String, field: String) throws -> String {
    guard let uuid = UUID(uuidString: value) else {
      throw RPCError.invalidArgument(field: field, "must be a UUID such as 3f2b…-…, got \"\(value.prefix(40))\"")
    }
    return uuid.uuidString.lowercased()
  }

  /// `page_size`: 0 means the default (100); at most 1,000.
  static func pageSize(_ value: UInt32) throws -> Int {
    guard value <= maxPageSize else {
      throw RPCError.invalidArgument(field: "page_size", "must be at most \(maxPageSize), got \(value)")
    }
    return value == 0 ? defaultPageSize : Int(value)
  }
}

/// Opaque page tokens: the sort position and id of the last row, so pages stay right while rows
/// are inserted (keyset paging, never offsets).
enum PageToken {
  struct Position {
    var position: Int64
    var id: String
  }

  static func encode(position: Int64, id: String) -> String {
    Data("v1|\(position)|\(id)".utf8).base64EncodedString()
  }

  /// Positions a page can start after: microseconds of a time the server stores (1900 to 2200).
  static let timePositions = FieldChecker.earliestMicros...FieldChecker.latestMicros
  /// Positions a page can start after: days since 1970 of a date the server stores (1900 to 2200).
  static let dayPositions =
    Int64(CivilDay(year: 1900, month: 1, day: 1).dayNumber)...Int64(CivilDay(year: 2200, month: 1, day: 1).dayNumber)

  /// The position and id a token names; INVALID_ARGUMENT for any other text, or for a position
  /// outside `positions`, which no row the server issued a token for can have.
  static func decode(_ token: String, positions: ClosedRange<Int64>) throws -> Position? {
    guard !token.isEmpty else { return nil }
    let invalid = RPCError.invalidArgument(field: "page_token", "is not a token this server issued; start without one")
    guard let data = Data(base64Encoded: token) else { throw invalid }
    let parts = String(decoding: data, as: UTF8.self).split(separator: "|", omittingEmptySubsequences: false)
    guard parts.count == 3, parts[0] == "v1", let position = Int64(parts[1]), positions.contains(position),
      UUID(uuidString: String(parts[2])) != nil
    else { throw invalid }
    return Position(position: position, id: String(parts[2]))
  }
}
