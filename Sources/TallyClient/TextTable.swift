/// Rows of cells as aligned lines of text, for the CLI's tables and reports.
public enum TextTable {
  /// Every column padded to its widest cell, two spaces apart. The last cell of a row is not
  /// padded, so it does not widen its column (a long note at the end of a short row).
  public static func lines(_ rows: [[String]]) -> [String] {
    var widths: [Int] = []
    for row in rows {
      for (column, cell) in row.dropLast().enumerated() {
        if column == widths.count { widths.append(0) }
        widths[column] = max(widths[column], cell.count)
      }
    }
    return rows.map { row in
      row.enumerated().map { column, cell in
        column == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[column] - cell.count)
      }.joined(separator: "  ")
    }
  }
}
