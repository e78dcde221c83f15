import Foundation

/// Statements a connection sent, as a psql script: what ran before the first BEGIN once, then the
/// transaction `iterations` times, each after an `\echo iteration` line so that its `Time:` lines can
/// be summed. A parameterised statement is prepared just before its first use, as the server's
/// connections do, and executed by name after that.
public struct PsqlReplayScript: Sendable {
  public var text: String

  public init(_ statements: [PostgresStatement], iterations: Int, title: String) {
    let begin = statements.firstIndex { $0.sql.hasPrefix("BEGIN") } ?? statements.startIndex
    var names: [String: String] = [:]
    var lines = [
      "-- \(title)", "-- \(statements.count) statements recorded by tallyd kpi-sql", "\\set ON_ERROR_STOP on",
    ]
    lines += statements[..<begin].map { $0.sql + ";" }
    lines.append("\\timing on")
    for _ in 0..<iterations {
      lines.append("\\echo iteration")
      for statement in statements[begin...] {
        guard let parameters = statement.parameters else {
          lines.append(statement.sql + ";")
          continue
        }
        let name: String
        if let known = names[statement.sql] {
          name = known
        } else {
          name = "tally_\(names.count + 1)"
          names[statement.sql] = name
          lines.append("PREPARE \(name) AS\n\(statement.sql);")
        }
        lines.append(
          parameters.isEmpty
            ? "EXECUTE \(name);" : "EXECUTE \(name)(\(parameters.map(Self.literal).joined(separator: ", ")));")
      }
    }
    self.text = lines.joined(separator: "\n")
  }

  /// A SQL string literal (standard_conforming_strings: only quotes double), or NULL.
  public static func literal(_ text: String?) -> String {
    guard let text else { return "NULL" }
    return "'" + text.replacingOccurrences(of: "'", with: "''") + "'"
  }
}
