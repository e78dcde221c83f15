public import NIOCore

/// How many entries a repeated field (or map) of a message may have, checked on the message's
/// wire form before it is decoded: 4 MiB of empty entries would otherwise decode into two
/// million messages, seconds of an event loop's time, before any count check saw them.
public struct WireFieldLimit: Sendable {
  public enum Shape: Sendable {
    /// A repeated field or map: at most `max` entries, and `each` checked inside every entry on its own.
    case repeated(max: Int, each: [WireFieldLimit])
    /// A map with string keys: at most `max` entries, and no two keys that are one text in
    /// different Unicode forms ("é" and "e" + U+0301), which decoding would merge into one.
    case map(max: Int)
    /// A repeated number field: at most `max` values, packed (many in one entry) or not.
    case packed(max: Int)
    /// A singular message field: its occurrences merge into one message, so `fields` are counted
    /// across all of them. (Its own fields should not be messages: theirs would be counted per
    /// occurrence.)
    case message(fields: [WireFieldLimit])
  }

  public let number: Int
  /// The field's name in the proto file, as violations name it.
  public let name: String
  public let shape: Shape

  public static func repeated(_ number: Int, _ name: String, max: Int, each: [WireFieldLimit] = []) -> WireFieldLimit {
    WireFieldLimit(number: number, name: name, shape: .repeated(max: max, each: each))
  }

  public static func map(_ number: Int, _ name: String, max: Int) -> WireFieldLimit {
    WireFieldLimit(number: number, name: name, shape: .map(max: max))
  }

  public static func packed(_ number: Int, _ name: String, max: Int) -> WireFieldLimit {
    WireFieldLimit(number: number, name: name, shape: .packed(max: max))
  }

  public static func message(_ number: Int, _ name: String, _ fields: [WireFieldLimit]) -> WireFieldLimit {
    WireFieldLimit(number: number, name: name, shape: .message(fields: fields))
  }
}

/// The first limit a message's wire form passes: the field's path ("events[3].properties"), its
/// most, and how many entries it has (in the message, or the entry, whose list it is).
public struct WireFieldOverLimit: Sendable, Hashable {
  public var field: String
  public var max: Int
  public var found: Int

  public init(field: String, max: Int, found: Int) {
    self.field = field
    self.max = max
    self.found = found
  }
}

/// What a message's wire form holds against its limits.
public enum WireFieldCount: Sendable, Hashable {
  case withinLimits
  case passed(WireFieldOverLimit)
  case sameKey(WireMapKeyClash)
  /// Not a message the scan can read: truncated, an invalid wire type, or a group (which no Tally
  /// message has, and which the decoder would skip unseen, lists after it and all).
  case unreadable
}

extension WireFieldLimit {
  /// Scans `payload` (a message's wire form) for the first of `limits` it passes.
  public static func count(_ limits: [WireFieldLimit], in payload: ByteBuffer) -> WireFieldCount {
    payload.withUnsafeReadableBytes { bytes in
      var scanner = WireScanner(bytes: bytes)
      var counts = [Int](repeating: 0, count: limits.count)
      var merged: [[Int]?] = []
      do {
        if let passed = try scanner.scan(limits, upTo: bytes.count, counts: &counts, merged: &merged) {
          return .passed(passed)
        }
        // Keys of ASCII alone are the same text only when their bytes are: the common case skips this.
        guard scanner.sawNonASCIIKey else { return .withinLimits }
        var keys = MapKeyScanner(bytes: bytes)
        return try keys.scan(limits, upTo: bytes.count, path: "").map { .sameKey($0) } ?? .withinLimits
      } catch {
        return .unreadable
      }
    }
  }
}

/// Bytes the scan cannot read as a message.
struct UnreadableWireForm: Error {}

/// Walks protobuf's wire format: keys, varints, lengths. Throws at anything malformed.
struct WireScanner {
  let bytes: UnsafeRawBufferPointer
  var index = 0
  /// Whether a map's key had a byte past ASCII, so that two keys may be one text.
  var sawNonASCIIKey = false

  /// Counts the fields of the message in `index..<end` that `limits` name; `counts` and `merged`
  /// (the counts inside singular message fields, by position, empty until one is seen: most
  /// entries have none, and the array of optionals cost a metadata look-up and an allocation per
  /// event) persist across occurrences of this message.
  /// The field passed is named from this message down; callers put their own part in front.
  mutating func scan(
    _ limits: [WireFieldLimit], upTo end: Int, counts: inout [Int], merged: inout [[Int]?]
  ) throws(UnreadableWireForm) -> WireFieldOverLimit? {
    while self.index < end {
      let (number, wireType, value) = try self.nextField(upTo: end)
      let valueEnd = value.upperBound  // where the next field starts
      guard let position = limits.firstIndex(where: { UInt64($0.number) == number }) else {
        self.index = valueEnd
        continue
      }
      let limit = limits[position]
      switch limit.shape {
      case .packed(let max):
        counts[position] += wireType == 2 ? self.varintCount(in: value) : 1
        if let passed = self.passed(limit, max, counts[position], packed: true, from: valueEnd, upTo: end) {
          return passed
        }
      case .map(let max):
        counts[position] += 1
        if let passed = self.passed(limit, max, counts[position], packed: false, from: valueEnd, upTo: end) {
          return passed
        }
        if wireType == 2, !self.sawNonASCIIKey {
          self.sawNonASCIIKey = try self.keyIsPastASCII(in: value)
        }
      case .repeated(let max, let each):
        counts[position] += 1
        if let passed = self.passed(limit, max, counts[position], packed: false, from: valueEnd, upTo: end) {
          return passed
        }
        if wireType == 2, !each.isEmpty {
          var entryCounts = [Int](repeating: 0, count: each.count)
          var entryMerged: [[Int]?] = []
          if var passed = try self.scan(each, upTo: valueEnd, counts: &entryCounts, merged: &entryMerged) {
            passed.field = "\(limit.name)[\(counts[position] - 1)].\(passed.field)"
            return passed
          }
        }
      case .message(let fields):
        guard wireType == 2 else { throw UnreadableWireForm() }
        var fieldCounts = (merged.isEmpty ? nil : merged[position]) ?? [Int](repeating: 0, count: fields.count)
        var fieldMerged: [[Int]?] = []
        if var passed = try self.scan(fields, upTo: valueEnd, counts: &fieldCounts, merged: &fieldMerged) {
          passed.field = "\(limit.name).\(passed.field)"
          return passed
        }
        if merged.isEmpty { merged = Array(repeating: nil, count: limits.count) }
        merged[position] = fieldCounts
      }
      self.index = valueEnd
    }
    return nil
  }

  /// `limit` passed once `count` is over `max`: how far past is counted over the rest of the
  /// message, from `next` (the field after the one that passed it) to `end`.
  mutating func passed(
    _ limit: WireFieldLimit, _ max: Int, _ count: Int, packed: Bool, from next: Int, upTo end: Int
  ) -> WireFieldOverLimit? {
    guard count > max else { return nil }
    self.index = next
    let found = count + self.countRest(of: UInt64(limit.number), packed: packed, upTo: end)
    return WireFieldOverLimit(field: limit.name, max: max, found: found)
  }

  /// Whether a map entry's key has a byte past ASCII. An entry as encoders write it (a key under
  /// 128 bytes, then the value) is read in place; any other is walked field by field.
  mutating func keyIsPastASCII(in entry: Range<Int>) throws(UnreadableWireForm) -> Bool {
    let start = entry.lowerBound
    if entry.count >= 2, self.bytes[start] == 0x0a, self.bytes[start + 1] < 0x80 {
      let keyEnd = start + 2 + Int(self.bytes[start + 1])
      var plain = keyEnd == entry.upperBound
      if !plain, keyEnd < entry.upperBound, self.bytes[keyEnd] == 0x12 {
        self.index = keyEnd + 1
        let length = self.varint(upTo: entry.upperBound)
        plain = length.map { UInt64(entry.upperBound - self.index) == $0 } ?? false
      }
      if plain { return self.hasByteAboveASCII(in: (start + 2)..<keyEnd) }
    }
    guard let key = try self.mapKey(in: entry) else { return false }
    return self.hasByteAboveASCII(in: key)
  }

  /// Whether `range` holds a byte of 0x80 or more, eight bytes at a time.
  func hasByteAboveASCII(in range: Range<Int>) -> Bool {
    var position = range.lowerBound
    while position + 8 <= range.upperBound {
      let word = self.bytes.loadUnaligned(fromByteOffset: position, as: UInt64.self)
      if word & 0x8080_8080_8080_8080 != 0 { return true }
      position += 8
    }
    while position < range.upperBound {
      if self.bytes[position] >= 0x80 { return true }
      position += 1
    }
    return false
  }

  /// Where a map entry's key (its field 1) lies, if it has one; `index` is left at `entry`'s end.
  mutating func mapKey(in entry: Range<Int>) throws(UnreadableWireForm) -> Range<Int>? {
    self.index = entry.lowerBound
    var key: Range<Int>?
    while self.index < entry.upperBound {
      let field = try self.nextField(upTo: entry.upperBound)
      if field.number == 1, field.wireType == 2 { key = field.value }  // the last one wins, as in decoding
      self.index = field.value.upperBound
    }
    return key
  }

  /// The next field from `index`: its number, its wire type, and where its value lies (after it,
  /// `index` is at a length-delimited value's start, or past any other value).
  mutating func nextField(
    upTo end: Int
  ) throws(UnreadableWireForm) -> (number: UInt64, wireType: UInt64, value: Range<Int>) {
    guard let key = self.varint(upTo: end) else { throw UnreadableWireForm() }
    let wireType = key & 7
    switch wireType {
    case 0: guard self.varint(upTo: end) != nil else { throw UnreadableWireForm() }
    case 1: self.index += 8
    case 5: self.index += 4
    case 2:
      guard let length = self.varint(upTo: end), length <= UInt64(end - self.index) else { throw UnreadableWireForm() }
      return (key >> 3, wireType, self.index..<(self.index + Int(length)))
    default: throw UnreadableWireForm()  // groups, and invalid wire types
    }
    guard self.index <= end else { throw UnreadableWireForm() }
    return (key >> 3, wireType, self.index..<self.index)
  }

  /// The entries of field `number` from `index` to `end`: only ever read past a limit, to say
  /// how far past it a list went.
  mutating func countRest(of number: UInt64, packed: Bool, upTo end: Int) -> Int {
    var count = 0
    while self.index < end, let field = try? self.nextField(upTo: end) {
      if field.number == number { count += packed && field.wireType == 2 ? self.varintCount(in: field.value) : 1 }
      self.index = field.value.upperBound
    }
    return count
  }

  mutating func varint(upTo end: Int) -> UInt64? {
    var value: UInt64 = 0
    var shift: UInt64 = 0
    while self.index < end, shift < 64 {
      let byte = self.bytes[self.index]
      self.index += 1
      value |= UInt64(byte & 0x7f) << shift
      if byte < 0x80 { return value }
      shift += 7
    }
    return nil
  }

  /// The varints in `range` (a packed field's values): one per byte that ends one.
  func varintCount(in range: Range<Int>) -> Int {
    var count = 0
    for position in range where self.bytes[position] < 0x80 { count += 1 }
    return count
  }
}
