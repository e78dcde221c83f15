/// Charts drawn with characters, for terminals: bars and sparklines.
public enum TextChart {
  /// The eight block heights of a sparkline, lowest first.
  static let levels: [Character] = ["▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"]

  /// One character per value on a fixed scale, so that two sparklines of NPS (−100…100) compare
  /// by eye; `nil` (a suppressed round) is drawn as `·`.
  public static func sparkline(_ values: [Double?], range: ClosedRange<Double>) -> String {
    String(
      values.map { value -> Character in
        guard let value, value.isFinite else { return "·" }
        let clamped = min(max(value, range.lowerBound), range.upperBound)
        let span = range.upperBound - range.lowerBound
        // An infinite or empty range has no positions on it: the middle block, not a trap.
        let position = span > 0 && span.isFinite ? (clamped - range.lowerBound) / span : 0.5
        return Self.levels[min(Int((position * Double(Self.levels.count - 1)).rounded()), Self.levels.count - 1)]
      })
  }

  /// A horizontal bar of `value / maximum × width` cells, with eighth-cell precision at its end;
  /// a value above `maximum` (a server's answer, not trusted) fills the width and no more.
  public static func bar(_ value: UInt64, maximum: UInt64, width: Int) -> String {
    guard maximum > 0, value > 0, width > 0 else { return "" }
    let eighths = Int((Double(min(value, maximum)) / Double(maximum) * Double(width * 8)).rounded())
    let partials: [Character] = ["▏", "▎", "▍", "▌", "▋", "▊", "▉"]
    var bar = String(repeating: "█", count: eighths / 8)
    if eighths % 8 > 0 { bar.append(partials[eighths % 8 - 1]) }
    // A non-zero count never disappears.
    return bar.isEmpty ? "▏" : bar
  }

  /// The bar of a score such as health (0 to 100): a negative or non-finite score draws nothing.
  public static func bar(score: Double, maximum: UInt64, width: Int) -> String {
    guard score.isFinite, score > 0 else { return "" }
    let rounded = min(score, Double(maximum)).rounded()
    return Self.bar(UInt64(exactly: rounded) ?? maximum, maximum: maximum, width: width)
  }
}
