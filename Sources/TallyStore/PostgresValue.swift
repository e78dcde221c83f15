public import Foundation

/// A value sent as a statement parameter, in PostgreSQL's text format unless it has a binary one.
public protocol PostgresBindable: Sendable {
  var postgresText: String { get }
  /// How libpq sends it: its text, unless the type knows its binary format (`PostgresByteaArray`).
  var postgresParameter: PostgresParameter { get }
}

extension PostgresBindable {
  public var postgresParameter: PostgresParameter { .text(self.postgresText) }
}

/// A value read from a result column in PostgreSQL's text format.
public protocol PostgresDecodable {
  init(postgresText: String) throws
}

/// A column whose text is not what the caller asked for.
public struct PostgresDecodingError: Error, CustomStringConvertible {
  public var description: String
}

extension String: PostgresBindable, PostgresDecodable {
  public var postgresText: String { self }
  public init(postgresText: String) { self = postgresText }
}

extension Bool: PostgresBindable, PostgresDecodable {
  public var postgresText: String { self ? "t" : "f" }
  public init(postgresText: String) throws {
    switch postgresText {
    case "t", "true": self = true
    case "f", "false": self = false
    default: throw PostgresDecodingError(description: "not a boolean: \(postgresText.prefix(32))")
    }
  }
}

/// Numbers travel as their decimal text, which is what both Swift and PostgreSQL print.
extension PostgresDecodable where Self: LosslessStringConvertible {
  public init(postgresText: String) throws {
    guard let value = Self(postgresText) else {
      throw PostgresDecodingError(description: "not a \(Self.self): \(postgresText.prefix(32))")
    }
    self = value
  }
}

extension PostgresBindable where Self: LosslessStringConvertible {
  public var postgresText: String { self.description }
}

extension Int: PostgresBindable, PostgresDecodable {}
extension Int32: PostgresBindable, PostgresDecodable {}
extension Int64: PostgresBindable, PostgresDecodable {}
extension Double: PostgresBindable, PostgresDecodable {}

extension UUID: PostgresBindable, PostgresDecodable {
  public var postgresText: String { self.uuidString.lowercased() }
  public init(postgresText: String) throws {
    guard let value = UUID(uuidString: postgresText) else {
      throw PostgresDecodingError(description: "not a uuid: \(postgresText.prefix(40))")
    }
    self = value
  }
}

/// One result row: column values as text (nil for NULL), decoded on demand.
public struct PostgresRow: Sendable {
  public let values: [String?]
  let columns: [String: Int]

  /// The value of a column by position; nil for NULL.
  public func decode<T: PostgresDecodable>(_ type: T.Type, at index: Int) throws -> T? {
    guard let text = self.values[index] else { return nil }
    return try T(postgresText: text)
  }

  /// The value of a column by name; nil for NULL.
  public func decode<T: PostgresDecodable>(_ type: T.Type, _ column: String) throws -> T? {
    guard let index = self.columns[column] else {
      throw PostgresDecodingError(description: "no column named \(column)")
    }
    return try self.decode(type, at: index)
  }

  /// The value of a column that is never NULL.
  public func require<T: PostgresDecodable>(_ type: T.Type, _ column: String) throws -> T {
    guard let value = try self.decode(type, column) else {
      throw PostgresDecodingError(description: "column \(column) is NULL")
    }
    return value
  }
}

/// What a statement returned: its rows and how many rows it changed.
public struct PostgresResult: Sendable {
  public var columnNames: [String]
  public var rows: [PostgresRow]
  public var affectedRows: Int
}

/// Text-format arrays and byte strings as PostgreSQL prints and reads them.
public enum PostgresArray {
  /// `{"a","b"}`: a text[] literal for any strings.
  public static func literal(_ values: [String]) -> String { Self.literal(values.map(Optional.some)) }

  /// `{"a",NULL}`: an array literal of any element type PostgreSQL reads from text, NULLs kept.
  /// Built in UTF-8 bytes, each value copied whole between the quotes and backslashes it escapes:
  /// batches send thousands of values (a character at a time cost 7 % of SubmitResponse's CPU).
  public static func literal(_ values: [String?]) -> String {
    var capacity = 2
    for value in values { capacity += (value?.utf8.count ?? 4) + 3 }
    var out: [UInt8] = []
    out.reserveCapacity(capacity)
    out.append(UInt8(ascii: "{"))
    for (index, value) in values.enumerated() {
      if index > 0 { out.append(UInt8(ascii: ",")) }
      guard var value else {
        out.append(contentsOf: "NULL".utf8)
        continue
      }
      out.append(UInt8(ascii: "\""))
      value.withUTF8 { bytes in
        var start = 0
        for (offset, byte) in bytes.enumerated() where byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
          out.append(contentsOf: bytes[start..<offset])
          out.append(UInt8(ascii: "\\"))
          start = offset
        }
        out.append(contentsOf: bytes[start...])
      }
      out.append(UInt8(ascii: "\""))
    }
    out.append(UInt8(ascii: "}"))
    return String(decoding: out, as: UTF8.self)
  }

  /// `{a,b}` for arrays of simple words (scopes).
  public static func strings(_ text: String) -> [String] {
    text.trimmingCharacters(in: CharacterSet(charactersIn: "{}")).split(separator: ",").map(String.init)
  }

  /// `\x0a1b…` (bytea hex output).
  public static func bytes(_ text: String) throws -> [UInt8] {
    guard text.hasPrefix("\\x"), text.count % 2 == 0 else {
      throw PostgresDecodingError(description: "not a bytea in hex format")
    }
    var bytes: [UInt8] = []
    var index = text.index(text.startIndex, offsetBy: 2)
    while index < text.endIndex {
      let next = text.index(index, offsetBy: 2)
      guard let byte = UInt8(text[index..<next], radix: 16) else {
        throw PostgresDecodingError(description: "not a bytea in hex format")
      }
      bytes.append(byte)
      index = next
    }
    return bytes
  }
}
