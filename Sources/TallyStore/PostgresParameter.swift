import Glibc

/// A parameter as libpq sends it: PostgreSQL's text format, or its binary format for bytes that
/// text would double in size and make the server parse a character at a time.
public enum PostgresParameter: Sendable, Equatable {
  case text(String)
  case binary([UInt8])
}

/// A `bytea[]` parameter (NULL elements allowed) sent in PostgreSQL's binary array format. Sent as
/// a text literal, a batch of sealed survey answers cost the server 18 % of its CPU in `array_in`
/// alone (docs/BENCHMARKS.md, "Session 44: sealed answers sent as bytes").
public struct PostgresByteaArray: PostgresBindable, Equatable {
  public var elements: [[UInt8]?]

  public init(_ elements: [[UInt8]?]) { self.elements = elements }

  public var postgresParameter: PostgresParameter { .binary(Self.binaryFormat(self.elements)) }

  /// The same array as a text literal (`{"\\x0a1b",NULL}`): what a recorded statement's psql
  /// replay sends, which has no binary parameters.
  public var postgresText: String {
    PostgresArray.literal(self.elements.map { $0.map { "\\x" + Hex.encode($0) } })
  }

  /// bytea's type oid, which the array names for its elements.
  static let byteaOID: Int32 = 17

  /// `array_recv`'s input: dimensions (1, or 0 when empty), a has-NULLs flag, the element type,
  /// the length and lower bound (1), then each element as its length (-1 for NULL) and bytes; every
  /// integer a big-endian int32.
  static func binaryFormat(_ elements: [[UInt8]?]) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(20 + elements.reduce(0) { $0 + 4 + ($1?.count ?? 0) })
    func append(_ value: Int32) { withUnsafeBytes(of: value.bigEndian) { out.append(contentsOf: $0) } }
    append(elements.isEmpty ? 0 : 1)
    append(elements.contains(where: { $0 == nil }) ? 1 : 0)
    append(Self.byteaOID)
    guard !elements.isEmpty else { return out }
    append(Int32(elements.count))
    append(1)
    for element in elements {
      guard let element else {
        append(-1)
        continue
      }
      append(Int32(element.count))
      out.append(contentsOf: element)
    }
    return out
  }
}

/// A prepared statement's parameters as libpq sends them, and as text for an observer.
struct BoundParameters {
  let values: [PostgresParameter?]
  private let bindables: [(any PostgresBindable)?]

  init(_ bindables: [(any PostgresBindable)?]) {
    self.bindables = bindables
    self.values = bindables.map { $0?.postgresParameter }
  }

  /// Each parameter's text form: what an observer records, since a psql replay sends text.
  var texts: [String?] { self.bindables.map { $0?.postgresText } }

  /// The position of the first text parameter that holds a NUL, which libpq's C strings would cut short.
  var firstWithNUL: Int? {
    self.values.firstIndex {
      guard case .text(let text)? = $0 else { return false }
      return Self.containsNUL(text)
    }
  }

  /// Whether `text` holds a NUL, found by `memchr` in its UTF-8: a batch's parameters run to
  /// megabytes, and `utf8.contains(0)`, a byte at a time, was 5 % of SubmitResponse's CPU.
  static func containsNUL(_ text: String) -> Bool {
    text.utf8.withContiguousStorageIfAvailable { bytes in
      guard let start = bytes.baseAddress else { return false }
      return memchr(start, 0, bytes.count) != nil
    } ?? text.utf8.contains(0)
  }

  /// Calls `body` with libpq's three arrays: each value's bytes (a C string for text, NULL for SQL
  /// NULL), its length (read for binary values only) and its format (0 text, 1 binary). They are
  /// valid only during the call.
  func withLibpqArrays<R>(
    _ body: (_ values: [UnsafePointer<CChar>?], _ lengths: [Int32], _ formats: [Int32]) -> R
  ) -> R {
    let copies: [UnsafeMutablePointer<CChar>?] = self.values.map { value in
      switch value {
      case nil: return nil
      case .text(let text)?: return strdup(text)
      case .binary(let bytes)?:
        let copy = malloc(max(bytes.count, 1))!
        bytes.withUnsafeBytes { if let source = $0.baseAddress { memcpy(copy, source, bytes.count) } }
        return copy.assumingMemoryBound(to: CChar.self)
      }
    }
    defer { for copy in copies { free(copy) } }
    let lengths = self.values.map { value -> Int32 in
      if case .binary(let bytes)? = value { return Int32(bytes.count) }
      return 0
    }
    let formats = self.values.map { value -> Int32 in
      if case .binary? = value { return 1 }
      return 0
    }
    return body(copies.map { $0.map { UnsafePointer($0) } }, lengths, formats)
  }
}
