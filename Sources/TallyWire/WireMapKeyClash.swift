/// Two keys of one map that differ in their bytes but are the same Swift `String`: decoding keeps
/// one entry of the two, and the client would never learn which.
public struct WireMapKeyClash: Sendable, Hashable {
  /// The map's path, as `WireFieldOverLimit.field` names it.
  public var field: String
  /// The keys, in the order they came.
  public var first: String
  public var second: String

  public init(field: String, first: String, second: String) {
    self.field = field
    self.first = first
    self.second = second
  }

  /// The keys' Unicode scalars ("U+00E9" and "U+0065 U+0301"), which tell them apart where
  /// their text does not.
  public var scalars: (first: String, second: String) {
    (Self.spelled(self.first), Self.spelled(self.second))
  }

  private static func spelled(_ key: String) -> String {
    key.unicodeScalars.map(\.codePoint).joined(separator: " ")
  }
}

extension Unicode.Scalar {
  /// "U+00E9": how errors name a character that its text does not show.
  public var codePoint: String {
    let hex = String(self.value, radix: 16, uppercase: true)
    return "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
  }
}

/// Finds two keys of one map that are the same text in different bytes: run only once a key past
/// ASCII was seen. Maps are named by path, so a singular message's occurrences share their keys.
struct MapKeyScanner {
  var scanner: WireScanner
  /// Each map's keys so far, by path, with the bytes they came in.
  var keys: [String: [String: Range<Int>]] = [:]

  init(bytes: UnsafeRawBufferPointer) {
    self.scanner = WireScanner(bytes: bytes)
  }

  mutating func scan(_ limits: [WireFieldLimit], upTo end: Int, path: String) throws(UnreadableWireForm)
    -> WireMapKeyClash?
  {
    var entries = [Int](repeating: 0, count: limits.count)
    while self.scanner.index < end {
      let (number, wireType, value) = try self.scanner.nextField(upTo: end)
      guard wireType == 2, let position = limits.firstIndex(where: { UInt64($0.number) == number }) else {
        self.scanner.index = value.upperBound
        continue
      }
      let limit = limits[position]
      let fieldPath = path + limit.name
      switch limit.shape {
      case .packed:
        break
      case .map:
        if let clash = try self.add(keyIn: value, to: fieldPath) { return clash }
      case .repeated(_, let each):
        entries[position] += 1
        if !each.isEmpty {
          self.scanner.index = value.lowerBound
          if let clash = try self.scan(each, upTo: value.upperBound, path: "\(fieldPath)[\(entries[position] - 1)].") {
            return clash
          }
        }
      case .message(let fields):
        self.scanner.index = value.lowerBound
        if let clash = try self.scan(fields, upTo: value.upperBound, path: fieldPath + ".") { return clash }
      }
      self.scanner.index = value.upperBound
    }
    return nil
  }

  /// Adds the key of the map entry in `entry` to the map at `path`; the clash, if it is the same
  /// text as an earlier key in other bytes. (Keys that are not UTF-8 are left to the decoder.)
  private mutating func add(keyIn entry: Range<Int>, to path: String) throws(UnreadableWireForm) -> WireMapKeyClash? {
    guard let range = try self.scanner.mapKey(in: entry) else { return nil }
    let bytes = self.scanner.bytes
    guard let key = String(validating: bytes[range], as: UTF8.self) else { return nil }
    if let earlier = self.keys[path, default: [:]][key] {
      guard bytes[earlier].elementsEqual(bytes[range]) else {
        return WireMapKeyClash(field: path, first: String(decoding: bytes[earlier], as: UTF8.self), second: key)
      }
      return nil
    }
    self.keys[path, default: [:]][key] = range
    return nil
  }
}
