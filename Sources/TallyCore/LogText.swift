/// Text a client chose (its name, a request id) as it goes into log lines: a line break in it
/// would forge a line of its own, and an escape sequence would drive a reader's terminal.
public enum LogText {
  /// The first `max` code points of `text`, with control characters, line and paragraph
  /// separators and bidirectional overrides written as `\u{…}`. Printable ASCII, the common case,
  /// is returned as it is.
  public static func printable(_ text: String, max: Int = 128) -> String {
    if text.utf8.count <= max, text.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) { return text }
    var result = ""
    for scalar in text.unicodeScalars.prefix(max) {
      if Self.isUnsafe(scalar) {
        result += "\\u{\(String(scalar.value, radix: 16, uppercase: true))}"
      } else {
        result.unicodeScalars.append(scalar)
      }
    }
    return result
  }

  static func isUnsafe(_ scalar: Unicode.Scalar) -> Bool {
    scalar.properties.generalCategory == .control || scalar.isInvisible
  }
}
