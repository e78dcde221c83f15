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
  /// The column a refused value was meant for, when PostgreSQL names it (a missing value, say).
  public var column: String?
  /// A failure without a SQLSTATE that is this server's own doing (a statement that did not answer
  /// as it should), not a lost connection: INTERNAL, where other failures without one are UNAVAILABLE.
  public var isMisuse = false
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
