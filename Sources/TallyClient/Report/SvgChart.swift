import Foundation

/// Inline SVG charts for the HTML report: no script, no external file, readable when printed.
public enum SvgChart {
  /// A small trend line; gaps (`nil`, no data) break the line instead of dropping to 0.
  public static func sparkline(_ values: [Double?], width: Int = 120, height: Int = 28) -> String {
    let finite = values.compactMap { $0 }.filter(\.isFinite)
    guard values.count > 1, let low = finite.min(), let high = finite.max() else {
      return "<svg width=\"\(width)\" height=\"\(height)\" role=\"img\" aria-label=\"no trend\"></svg>"
    }
    let span = high > low ? high - low : 1
    let step = Double(width - 4) / Double(values.count - 1)
    var segments: [[(x: Double, y: Double)]] = [[]]
    for (index, value) in values.enumerated() {
      guard let value, value.isFinite else {
        if !(segments.last?.isEmpty ?? true) { segments.append([]) }
        continue
      }
      let y = Double(height - 3) - (high > low ? (value - low) / span : 0.5) * Double(height - 6)
      segments[segments.count - 1].append((2 + Double(index) * step, y))
    }
    let lines = segments.filter { !$0.isEmpty }.map { points in
      points.count == 1
        ? "<circle cx=\"\(Self.number(points[0].x))\" cy=\"\(Self.number(points[0].y))\" r=\"1.5\"/>"
        : "<polyline fill=\"none\" stroke=\"currentColor\" stroke-width=\"1.5\" points=\""
          + points.map { Self.point($0.x, $0.y) }.joined(separator: " ") + "\"/>"
    }
    return "<svg width=\"\(width)\" height=\"\(height)\" role=\"img\" aria-label=\"trend\">\(lines.joined())</svg>"
  }

  /// Horizontal bars with a label on the left and the value on the right; a value that is not a
  /// finite number (a server's answer, not trusted) gets no bar, only its text.
  public static func bars(_ rows: [(label: String, value: Double, text: String)], width: Int = 560) -> String {
    let rowHeight = 24
    let labelWidth = 150
    let values = rows.map { $0.value.isFinite ? $0.value : 0 }
    let maximum = values.max() ?? 0
    let barSpace = Double(width - labelWidth - 110)
    let body = rows.enumerated().map { index, row in
      let y = index * rowHeight
      let value = values[index]
      let length = maximum > 0 ? max(value / maximum * barSpace, value > 0 ? 1 : 0) : 0
      return """
        <text x="0" y="\(y + 16)">\(Html.escape(row.label))</text>\
        <rect x="\(labelWidth)" y="\(y + 4)" width="\(Self.number(length))" height="16" rx="2" class="bar"/>\
        <text x="\(labelWidth + Int(length) + 6)" y="\(y + 16)">\(Html.escape(row.text))</text>
        """
    }
    return """
      <svg width="\(width)" height="\(rows.count * rowHeight)" role="img" aria-label="bar chart">\(body.joined())</svg>
      """
  }

  /// A line chart on a fixed scale (NPS: −100 to 100) with the period labels under it.
  public static func line(
    _ series: [(name: String, values: [Double?])], labels: [String], range: ClosedRange<Double>,
    width: Int = 560, height: Int = 200
  ) -> String {
    let (left, bottom, top) = (40.0, Double(height) - 24, 10.0)
    let step = labels.count > 1 ? (Double(width) - left - 10) / Double(labels.count - 1) : 0
    let y = { (value: Double) in
      bottom - (min(max(value, range.lowerBound), range.upperBound) - range.lowerBound)
        / (range.upperBound - range.lowerBound) * (bottom - top)
    }
    var parts: [String] = []
    for tick in stride(from: range.lowerBound, through: range.upperBound, by: (range.upperBound - range.lowerBound) / 4)
    {
      parts.append(
        "<line x1=\"\(left)\" x2=\"\(width - 10)\" y1=\"\(Self.number(y(tick)))\" y2=\"\(Self.number(y(tick)))\" class=\"grid\"/>"
          + "<text x=\"0\" y=\"\(Self.number(y(tick) + 4))\">\(Self.number(tick))</text>")
    }
    for (index, label) in labels.enumerated() where labels.count <= 12 || index % 2 == 0 {
      parts.append(
        "<text x=\"\(Self.number(left + Double(index) * step - 12))\" y=\"\(height - 4)\">\(Html.escape(label))</text>")
    }
    for (index, line) in series.enumerated() {
      let points = line.values.enumerated().compactMap { position, value in
        value.map { Self.point(left + Double(position) * step, y($0)) }
      }
      parts.append(
        "<polyline fill=\"none\" class=\"series\(index)\" stroke-width=\"2\" points=\"\(points.joined(separator: " "))\"/>"
      )
      for point in points {
        let xy = point.split(separator: ",")
        parts.append("<circle cx=\"\(xy[0])\" cy=\"\(xy[1])\" r=\"3\" class=\"series\(index)\"/>")
      }
    }
    return "<svg width=\"\(width)\" height=\"\(height)\" role=\"img\" aria-label=\"line chart\">\(parts.joined())</svg>"
  }

  static func point(_ x: Double, _ y: Double) -> String { "\(Self.number(x)),\(Self.number(y))" }

  static func number(_ value: Double) -> String { String(format: "%.1f", value) }
}

/// HTML text escaping: every string from the server goes through it.
public enum Html {
  public static func escape(_ text: String) -> String {
    var out = ""
    out.reserveCapacity(text.utf8.count)
    for character in text {
      switch character {
      case "&": out += "&amp;"
      case "<": out += "&lt;"
      case ">": out += "&gt;"
      case "\"": out += "&quot;"
      case "'": out += "&#39;"
      default: out.append(character)
      }
    }
    return out
  }
}
