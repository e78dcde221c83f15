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

  /// A run past 30 marks is at least 62 bytes past ASCII in a row (a mark takes 2 to 4 bytes):
  /// one of every 32nd byte lies in it. Only a stretch of such bytes that a sampled byte lies in,
  /// and that is long enough, is read scalar by scalar; ASCII text with a length's varint here and
  /// there costs a look at one byte in 32.
  static func firstLongCombiningRun(in bytes: UnsafeRawBufferPointer) -> Int? {
    let shortest = 2 * (Self.maxCombiningRun + 1)
    var sample = 0
    var readUpTo = 0
    while sample < bytes.count {
      guard bytes[sample] >= 0x80 else {
        sample += 32
        continue
      }
      var start = sample
      while start > readUpTo, bytes[start - 1] >= 0x80 { start -= 1 }
      var end = sample + 1
      while end < bytes.count, bytes[end] >= 0x80 { end += 1 }
      if end - start >= shortest, let found = Self.longCombiningRun(in: bytes, start..<end) { return found }
      readUpTo = end
      sample = max(sample + 32, end)
    }
    return nil
  }

  /// The offset of the first mark past `maxCombiningRun` in a row within `range`, read scalar by
  /// scalar.
  private static func longCombiningRun(in bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> Int? {
    var index = range.lowerBound
    var run = 0
    while index < range.upperBound {
      let (scalar, length) = Self.scalar(at: index, in: bytes)
      if let scalar, Self.isMark(scalar) {
        run += 1
        if run > Self.maxCombiningRun { return index }
      } else {
        run = 0
      }
      index += length
    }
    return nil
  }

  /// Whether `scalar` is a non-starter (a combining class other than 0). Latin-1, CJK ideographs
  /// and kana past U+3100, and Hangul syllables hold none: text in them skips the look-up, which
  /// made Chinese and Japanese text cost 5.6 ns a byte.
  static func isMark(_ scalar: Unicode.Scalar) -> Bool {
    switch scalar.value {
    case 0..<0x300, 0x3100...0xA66E, 0xAC00...0xD7FF: false
    default: scalar.properties.canonicalCombiningClass.rawValue != 0
    }
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
