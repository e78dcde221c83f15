/// A statement as a connection sends it: the SQL and, for a prepared statement, its parameters
/// as text (nil is NULL). What `tallyd kpi-sql` records to replay a call's queries through psql.
public struct PostgresStatement: Sendable, Hashable {
  public typealias Observer = @Sendable (PostgresStatement) -> Void

  public var sql: String
  /// nil for SQL run as it is (`execute`); the parameters of a prepared statement otherwise.
  public var parameters: [String?]?

  public init(sql: String, parameters: [String?]?) {
    self.sql = sql
    self.parameters = parameters
  }
}
