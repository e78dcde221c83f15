import Foundation

/// One cell of the CLI's `-o csv` output (RFC 4180), safe to open in a spreadsheet.
public enum CSVField {
  /// Quoted when it holds a comma, a quote, a line break, a semicolon or a tab (the list separators
  /// of other locales: unquoted, `x;=cmd…` would split into a second cell holding a formula). A
  /// text that a spreadsheet would run as a formula (its first character =, +, -, @, a tab or a
  /// CR: a tenant's account named `=HYPERLINK(…)`) starts with an apostrophe, which spreadsheets
  /// show as text; numbers such as -12.5 and a lone "-" are left as they are.
  public static func escaped(_ value: String) -> String {
    var value = value
    if let first = value.unicodeScalars.first, Self.formulaStarts.contains(first), value != "-", Double(value) == nil {
      value = "'" + value
    }
    guard value.contains(where: { $0 == "," || $0 == "\"" || $0 == ";" || $0 == "\t" || $0.isNewline }) else {
      return value
    }
    return "\"" + value.replacingOccurrences(of: "\"", with: "\"\"") + "\""
  }

  /// OWASP's list of a formula's first characters ("CSV Injection").
  static let formulaStarts: Set<Unicode.Scalar> = ["=", "+", "-", "@", "\t", "\r"]
}
