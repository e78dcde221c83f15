/// An error PostgreSQL or libpq reported. `description` names only the SQLSTATE, so nothing of a
/// statement or a row reaches a client; `String(reflecting:)` has the server's words, for logs.
public struct PostgresError: Error, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
  /// The five-character SQLSTATE, or nil for a client-side (connection) failure.
  public var sqlState: String?
  public var message: String
  public var detail: String?
  /// The table and the constraint a refused row broke, when PostgreSQL names them.
  public var table: String?
  public var constraint: String?
  /// The connection broke after COMMIT was sent: the transaction may or may not have committed.
  public var commitOutcomeUnknown = false

  public init(sqlState: String?, message: String, detail: String? = nil) {
    self.sqlState = sqlState
    self.message = message
    self.detail = detail
  }

  public var description: String { "database error (SQLSTATE \(self.sqlState ?? "none"))" }

  public var debugDescription: String {
    var text = "\(self.description): \(self.message)"
    if let detail { text += " (\(detail))" }
    return text
  }
}
