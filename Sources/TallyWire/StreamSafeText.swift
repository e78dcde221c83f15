public import NIOCore

/// Text with a long run of combining marks ("e" and 30,000 accents) costs Swift's comparison and
/// hashing time quadratic in the run: they normalize it, and canonical ordering sorts each run.
/// 16,000 marks took 0.47 s per comparison here. Unicode's stream-safe text format allows 30 in a
/// row, which no language needs more than; a payload with more is refused before it is decoded.
public enum StreamSafeText {
  /// The most combining marks (non-starters) in a row that a text may hold (UAX #15).
  public static let maxCombiningRun = 30

  /// The byte offset in `payload` of the first combining mark past `maxCombiningRun` in a row,
  /// or nil. The scan reads raw bytes: a protobuf field's key or length between two texts is no
  /// mark, so runs never join across fields.
  public static func firstLongCombiningRun(in payload: ByteBuffer) -> Int? {
    payload.withUnsafeReadableBytes { Self.firstLongCombiningRun(in: $0) }
  }

  static func firstLongCombiningRun(in bytes: UnsafeRawBufferPointer) -> Int? {
    var index = 0
    var run = 0
    while index < bytes.count {
      // Eight ASCII bytes at a time, the common case: no mark among them.
      if index + 8 <= bytes.count,
        bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self) & 0x8080_8080_8080_8080 == 0
      {
        run = 0
        index += 8
        continue
      }
      let (scalar, length) = Self.scalar(at: index, in: bytes)
      if let scalar, scalar.properties.canonicalCombiningClass.rawValue != 0 {
        run += 1
        if run > Self.maxCombiningRun { return index }
      } else {
        run = 0
      }
      index += length
    }
    return nil
  }

  /// Why `what` was refused, for its status or GOAWAY.
  public static func refusal(_ what: String, at offset: Int) -> String {
    "\(what) holds text with more than \(Self.maxCombiningRun) combining marks in a row (at byte \(offset)): "
      + "Unicode's stream-safe text allows \(Self.maxCombiningRun), which no language needs more than"
  }

  /// The UTF-8 scalar at `index` and its length, or nil and 1 for a byte that starts none.
  private static func scalar(at index: Int, in bytes: UnsafeRawBufferPointer) -> (Unicode.Scalar?, Int) {
    let lead = bytes[index]
    let length: Int
    var value: UInt32
    switch lead {
    case 0xC2...0xDF: (length, value) = (2, UInt32(lead & 0x1F))
    case 0xE0...0xEF: (length, value) = (3, UInt32(lead & 0x0F))
    case 0xF0...0xF4: (length, value) = (4, UInt32(lead & 0x07))
    default: return (nil, 1)
    }
    guard index + length <= bytes.count else { return (nil, 1) }
    for offset in 1..<length {
      let byte = bytes[index + offset]
      guard byte & 0xC0 == 0x80 else { return (nil, 1) }
      value = value << 6 | UInt32(byte & 0x3F)
    }
    return (Unicode.Scalar(value), length)
  }
}
