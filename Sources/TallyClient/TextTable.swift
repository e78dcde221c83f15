/// Rows of cells as aligned lines of text, for the CLI's tables and reports.
public enum TextTable {
  /// Every column padded to its widest cell, two spaces apart. The last cell of a row is not
  /// padded, so it does not widen its column (a long note at the end of a short row).
  public static func lines(_ rows: [[String]]) -> [String] {
    var widths: [Int] = []
    for row in rows {
      for (column, cell) in row.dropLast().enumerated() {
        if column == widths.count { widths.append(0) }
        widths[column] = max(widths[column], Self.displayWidth(cell))
      }
    }
    return rows.map { row in
      row.enumerated().map { column, cell in
        column == row.count - 1 ? cell : cell + Self.padding(widths[column] - Self.displayWidth(cell))
      }.joined(separator: "  ")
    }
  }

  /// `count` spaces (none for less).
  static func padding(_ count: Int) -> String { String(repeating: " ", count: max(count, 0)) }

  /// The columns a terminal gives `text`: two for an East Asian wide or fullwidth character or an
  /// emoji shown as one ("東京", "👍🏽"), none for a character of only combining or format marks,
  /// one for the rest. `String.count` gave every character one, so a company name in kanji
  /// pushed the rest of its row out of line.
  static func displayWidth(_ text: String) -> Int {
    text.reduce(0) { width, character in
      let scalars = character.unicodeScalars
      if scalars.contains(where: { $0.properties.isEmojiPresentation || Self.isWide($0.value) }) { return width + 2 }
      if scalars.allSatisfy({ Self.zeroWidth.contains($0.properties.generalCategory) }) { return width }
      return width + 1
    }
  }

  /// Marks drawn on the character before them, or not drawn.
  private static let zeroWidth: Set<Unicode.GeneralCategory> = [.nonspacingMark, .enclosingMark, .format]

  /// East Asian Wide and Fullwidth blocks (the ranges wcwidth uses).
  private static func isWide(_ value: UInt32) -> Bool {
    switch value {
    case 0x1100...0x115F, 0x2E80...0x303E, 0x3041...0x33FF, 0x3400...0x4DBF, 0x4E00...0x9FFF, 0xA000...0xA4CF,
      0xAC00...0xD7A3, 0xF900...0xFAFF, 0xFE30...0xFE4F, 0xFF00...0xFF60, 0xFFE0...0xFFE6, 0x20000...0x2FFFD,
      0x30000...0x3FFFD:
      true
    default: false
    }
  }
}
