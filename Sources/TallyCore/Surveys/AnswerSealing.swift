import Crypto
import Foundation
import TallyStore

/// The server's secret that seals anonymous answers until their round closes (docs/SURVEYS.md,
/// "Sealed until the round closes"). The database only ever sees its fingerprint.
public struct AnswerSealingKey: Sendable {
  /// The raw bytes: `SymmetricKey` is not Sendable, and one is made per use.
  private let bytes: [UInt8]
  /// The first 8 bytes of the key's SHA-256 in hex: names the key in sealed rows and errors
  /// without giving it away.
  public let fingerprint: String

  /// A key from 64 hexadecimal digits (what `openssl rand -hex 32` prints); white space around
  /// them is ignored.
  public init(hex: String) throws(InvalidKey) {
    let digits = Array(hex.trimmingCharacters(in: .whitespacesAndNewlines).utf8)
    guard digits.count == 64 else {
      throw InvalidKey("must be 64 hexadecimal digits, found \(digits.count) characters")
    }
    var bytes: [UInt8] = []
    bytes.reserveCapacity(32)
    for index in stride(from: 0, to: 64, by: 2) {
      guard let high = Self.nibble(digits[index]), let low = Self.nibble(digits[index + 1]) else {
        throw InvalidKey("must be 64 hexadecimal digits (0-9, a-f)")
      }
      bytes.append(high << 4 | low)
    }
    self.init(bytes: bytes)
  }

  /// The key in the file at `path`, which holds its 64 hexadecimal digits.
  public init(contentsOfFile path: String) throws(InvalidKey) {
    let text: String
    do {
      text = try String(contentsOfFile: path, encoding: .utf8)
    } catch {
      throw InvalidKey("cannot read the answer-sealing key file \(path): \(error.localizedDescription)")
    }
    do {
      try self.init(hex: text)
    } catch {
      throw InvalidKey("the answer-sealing key file \(path) \(error.message)")
    }
  }

  /// A new key from the system's secure generator.
  public static func random() -> AnswerSealingKey { AnswerSealingKey(bytes: SecureRandom.bytes(32)) }

  private init(bytes: [UInt8]) {
    self.bytes = bytes
    self.fingerprint = Hex.encode(SHA256.hash(data: bytes).prefix(8))
  }

  /// The key's 64 hexadecimal digits, for writing a new key to its file.
  public var hex: String { Hex.encode(self.bytes) }

  var key: SymmetricKey { SymmetricKey(data: self.bytes) }

  private static func nibble(_ digit: UInt8) -> UInt8? {
    switch digit {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): digit - UInt8(ascii: "A") + 10
    default: nil
    }
  }

  public struct InvalidKey: Error, CustomStringConvertible {
    public let message: String
    init(_ message: String) { self.message = message }
    public var description: String { self.message }
  }
}

/// The key that seals new answers, and earlier keys that still open what they sealed: a key can
/// be replaced while rounds are open, the old one kept until they have closed.
public struct AnswerSealingKeys: Sendable {
  public let current: AnswerSealingKey
  public let previous: [AnswerSealingKey]

  public init(current: AnswerSealingKey, previous: [AnswerSealingKey] = []) {
    self.current = current
    self.previous = previous.filter { $0.fingerprint != current.fingerprint }
  }

  /// The key whose fingerprint is `fingerprint`, if this server has it.
  func key(_ fingerprint: String) -> AnswerSealingKey? {
    ([self.current] + self.previous).first { $0.fingerprint == fingerprint }
  }

  /// The fingerprints, for messages: the current key first.
  var fingerprints: String {
    ([self.current.fingerprint + " (sealing)"] + self.previous.map(\.fingerprint)).joined(separator: ", ")
  }
}

/// An anonymous answer as it waits for its round to close: everything its `survey_responses` row
/// will hold, and nothing that names the person.
struct SealedResponse: Equatable, Sendable {
  var department: String?
  var team: String?
  var location: String?
  var tier: Int?
  var score: Int?
  /// The answers' JSON, as `survey_responses.answers` stores it.
  var answers: String
}

/// AES-GCM sealing of `SealedResponse`s under the server's key, bound to their round (a sealed
/// answer copied to another round, of its tenant or another's, does not open there).
enum AnswerSeal {
  /// The sealed plaintext: the content's length (4 bytes), the content, zeros to `paddedLength`.
  /// The content: each text as a 4-byte length (all ones for none) and its UTF-8, then the tier and
  /// the score as a byte each (255 for none). Written by hand: JSONEncoder cost more than the AES.
  static func seal(_ response: SealedResponse, round: String, key: AnswerSealingKey, floor: Int = 0) throws -> Data {
    var content: [UInt8] = []
    content.reserveCapacity(64 + response.answers.utf8.count)
    for text in [response.department, response.team, response.location] {
      Self.append(UInt32(text.map { $0.utf8.count } ?? Int(UInt32.max)), to: &content)
      if let text { content.append(contentsOf: text.utf8) }
    }
    let answers = Self.compactingEscapes(response.answers.utf8)
    Self.append(UInt32(answers.count), to: &content)
    content += answers
    for number in [response.tier, response.score] { content.append(number.map { UInt8(clamping: $0) } ?? 255) }
    // The segment's names are on the invitation in the clear: their length may show, not the answer's.
    let segment = [response.department, response.team, response.location].reduce(0) { $0 + ($1?.utf8.count ?? 0) }
    let length = Self.paddedLength(content.count, floor: floor + segment)
    var padded: [UInt8] = []
    padded.reserveCapacity(length)
    Self.append(UInt32(content.count), to: &padded)
    padded += content
    padded += repeatElement(0, count: length - padded.count)
    let box = try AES.GCM.seal(padded, using: key.key, authenticating: Self.context(round: round))
    guard let combined = box.combined else { throw SealError.malformed }
    return combined
  }

  static func open(_ sealed: Data, round: String, key: AnswerSealingKey) throws -> SealedResponse {
    let padded: [UInt8]
    do {
      let box = try AES.GCM.SealedBox(combined: sealed)
      padded = Array(try AES.GCM.open(box, using: key.key, authenticating: Self.context(round: round)))
    } catch {
      throw SealError.doesNotOpen
    }
    var reader = Reader(bytes: padded)
    let length = try reader.length()
    guard let contentLength = length, contentLength <= padded.count - 4 else { throw SealError.malformed }
    reader = Reader(bytes: padded[4..<(4 + contentLength)])
    let department = try reader.text()
    let team = try reader.text()
    let location = try reader.text()
    guard let compacted = try reader.text() else { throw SealError.malformed }
    let answers = Self.expandingEscapes(compacted)
    let tier = try reader.number()
    let score = try reader.number()
    guard reader.isAtEnd else { throw SealError.malformed }
    return SealedResponse(
      department: department, team: team, location: location, tier: tier, score: score, answers: answers)
  }

  /// The plaintext's length: the content and its 4-byte length, padded to `floor` (its survey's
  /// `paddingFloor` and its segment's names) in steps of 64 bytes, and beyond it to a power of two.
  static func paddedLength(_ contentLength: Int, floor: Int = 0) -> Int {
    var length = max(256, (floor + 63) / 64 * 64)
    while length < contentLength + 4 { length *= 2 }
    return length
  }

  /// The size every answer of a survey is padded to, besides its segment's names: room for each
  /// question answered at its longest in plain ASCII (a text of `ResponseAnswers.maxTextLength`
  /// characters, line breaks and quotes included, the longest choice of a single-choice question,
  /// every choice of a multiple-choice one). A sealed row's size then tells
  /// nothing of its answer, unless a text is so long and so far from ASCII that it needs more
  /// (docs/SURVEYS.md). Every byte counts: the rows and their WAL are most of what sealing costs.
  static func paddingFloor(_ questions: [SurveyQuestion]) -> Int {
    var answers = 2
    for question in questions {
      let value =
        switch question.type {
        case "text": ResponseAnswers.maxTextLength + 2
        case "single_choice": (question.choices.map(\.utf8.count).max() ?? 0) + 4
        case "multi_choice": question.choices.reduce(2) { $0 + $1.utf8.count + 3 }
        default: 5
        }
      answers += question.id.utf8.count + 4 + value
    }
    return 4 + 4 * 4 + answers + 2
  }

  /// The answers' JSON with `\n`, `\r`, `\t`, `\"` and `\\` each written as one control byte, which the
  /// JSON never holds raw: an answer's escapes then take no room, so a text's line breaks or
  /// quotes do not make its sealed row longer than its survey's others (`paddingFloor`).
  static func compactingEscapes(_ json: String.UTF8View) -> [UInt8] {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(json.count)
    var escaped = false
    for byte in json {
      if escaped {
        escaped = false
        if let compact = Self.compactEscapes[byte] {
          bytes.append(compact)
          continue
        }
        bytes.append(UInt8(ascii: "\\"))
      } else if byte == UInt8(ascii: "\\") {
        escaped = true
        continue
      }
      bytes.append(byte)
    }
    return bytes
  }

  /// The JSON back from `compactingEscapes`. Answers sealed before it have no raw control bytes,
  /// so they come back unchanged.
  static func expandingEscapes(_ compacted: String) -> String {
    guard compacted.utf8.contains(where: { Self.expandedEscapes[$0] != nil }) else { return compacted }
    var bytes: [UInt8] = []
    bytes.reserveCapacity(compacted.utf8.count + 64)
    for byte in compacted.utf8 {
      if let escape = Self.expandedEscapes[byte] {
        bytes += [UInt8(ascii: "\\"), escape]
      } else {
        bytes.append(byte)
      }
    }
    return String(decoding: bytes, as: UTF8.self)
  }

  /// The character after a backslash → the byte that stands for both.
  private static let compactEscapes: [UInt8: UInt8] = [
    UInt8(ascii: "n"): 0x0A, UInt8(ascii: "t"): 0x09, UInt8(ascii: "\""): 0x01, UInt8(ascii: "\\"): 0x02,
    UInt8(ascii: "r"): 0x0D,
  ]
  private static let expandedEscapes = Dictionary(uniqueKeysWithValues: compactEscapes.map { ($1, $0) })

  private static func append(_ value: UInt32, to bytes: inout [UInt8]) {
    bytes += [UInt8(value >> 24), UInt8(value >> 16 & 0xff), UInt8(value >> 8 & 0xff), UInt8(value & 0xff)]
  }

  private static func context(round: String) -> Data {
    Data("tally sealed answer v1 \(round)".utf8)
  }

  /// Reads the content back, every length checked against what is left.
  private struct Reader {
    let bytes: ArraySlice<UInt8>
    var position: Int

    init(bytes: some Collection<UInt8>) {
      self.bytes = ArraySlice(bytes)
      self.position = self.bytes.startIndex
    }

    var isAtEnd: Bool { self.position == self.bytes.endIndex }

    /// A 4-byte length; nil for all ones (no text).
    mutating func length() throws -> Int? {
      guard self.bytes.endIndex - self.position >= 4 else { throw SealError.malformed }
      let value = self.bytes[self.position..<(self.position + 4)].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
      self.position += 4
      return value == UInt32.max ? nil : Int(value)
    }

    mutating func text() throws -> String? {
      guard let length = try self.length() else { return nil }
      guard self.bytes.endIndex - self.position >= length,
        let text = String(validating: self.bytes[self.position..<(self.position + length)], as: UTF8.self)
      else { throw SealError.malformed }
      self.position += length
      return text
    }

    mutating func number() throws -> Int? {
      guard self.position < self.bytes.endIndex else { throw SealError.malformed }
      defer { self.position += 1 }
      return self.bytes[self.position] == 255 ? nil : Int(self.bytes[self.position])
    }
  }

  enum SealError: Error {
    /// Wrong key, another round's answer, or changed bytes: AES-GCM's tag does not match.
    case doesNotOpen
    case malformed
  }
}
