import NIOCore
import Testing

@testable import TallyWire

/// Runs of combining marks past Unicode's stream-safe 30, found on raw bytes before decoding.
@Suite struct StreamSafeTextTests {
  private static func offset(_ text: String) -> Int? {
    StreamSafeText.firstLongCombiningRun(in: ByteBuffer(string: text))
  }

  @Test func thirtyMarksInARowPassAndTheThirtyFirstIsFound() {
    let thirty = "e" + String(repeating: "\u{0301}", count: 30)
    #expect(Self.offset(thirty) == nil)
    // Each U+0301 is two bytes: the 31st starts at 1 + 30 × 2.
    #expect(Self.offset(thirty + "\u{0316}") == 61)
    // Marks of other classes count too (the ones canonical ordering sorts against each other).
    #expect(Self.offset("a" + String(repeating: "\u{0316}\u{0301}", count: 20)) == 1 + 30 * 2)
  }

  /// The scan samples one byte in 32: a run is found wherever it starts, and at its 31st mark.
  @Test func aRunIsFoundWhereverItLies() {
    let run = "e" + String(repeating: "\u{0301}", count: 31)
    for padding in 0..<70 {
      let text = String(repeating: "x", count: padding) + run + String(repeating: "y", count: padding % 7)
      #expect(Self.offset(text) == padding + 1 + 60, "padding \(padding)")
    }
    // Marks of three bytes (U+20D0), behind a stretch of other text past ASCII.
    #expect(Self.offset("日本語" + String(repeating: "\u{20D0}", count: 31)) == 9 + 30 * 3)
  }

  /// The ranges skipped without a look-up hold no mark: every scalar agrees with its property.
  @Test func theRangesSkippedHoldNoMark() {
    let skipped = (Array(0..<0x300) + Array(0x3100...0xA66E) + Array(0xAC00...0xD7FF)).compactMap {
      Unicode.Scalar(UInt32($0))
    }
    let marks = skipped.filter { $0.properties.canonicalCombiningClass.rawValue != 0 || StreamSafeText.isMark($0) }
    #expect(marks.isEmpty, "\(marks.prefix(5).map { String($0.value, radix: 16) })")
    #expect(StreamSafeText.isMark("\u{3099}") && StreamSafeText.isMark("\u{A66F}") && StreamSafeText.isMark("\u{0301}"))
  }

  @Test func anyStarterEndsARun() {
    let run = String(repeating: "\u{0301}", count: 20)
    #expect(Self.offset("e" + run + "x" + run + "\u{00E9}" + run) == nil)
    // A protobuf field's key and length between two texts is no mark either.
    var bytes = ByteBuffer(string: "e" + run)
    bytes.writeBytes([0x12, 0x28])
    bytes.writeString(run)
    #expect(StreamSafeText.firstLongCombiningRun(in: bytes) == nil)
  }

  @Test func ordinaryTextOfManyScriptsPasses() {
    let text = """
      Tiếng Việt có dấu: người, được, những. Ελληνικά ἀρχή. Русский текст. 日本語のテキスト。한국어 텍스트. \
      हिन्दी पाठ. العربية مع التشكيل: مُحَمَّدٌ. 👩‍👩‍👧‍👦 🏳️‍🌈
      """
    #expect(Self.offset(String(repeating: text, count: 200)) == nil)
    // Bytes that are no UTF-8 at all (varints, truncated sequences) are not marks.
    #expect(StreamSafeText.firstLongCombiningRun(in: ByteBuffer(bytes: [0xCC, 0xCC, 0x81, 0xFF, 0xE2, 0x82])) == nil)
  }
}
