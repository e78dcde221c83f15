import Foundation
public import Logging
public import TallyWire

extension PostgresError {
  /// The status a client sees for this database error; details stay in the log.
  ///
  /// - Parameter cancelled: whether the caller cancelled (57014 is then CANCELLED, else a timeout).
  public func rpcError(cancelled: Bool, logger: Logger) -> RPCError {
    let state = self.sqlState ?? ""
    switch state {
    case "23505":
      return RPCError(code: .alreadyExists, message: "the item already exists", cause: self)
    case "23503":
      return RPCError(code: .failedPrecondition, message: self.foreignKeyMessage, cause: self)
    case "22021":
      // A NUL or a byte sequence text cannot hold, in a value no field check caught.
      return RPCError(
        code: .invalidArgument, message: "a text value holds a character that cannot be stored (NUL, say)",
        cause: self)
    case "22003":
      // A sum past its column's range (an event rollup's value, say): the client's numbers, not a bug.
      return RPCError(
        code: .outOfRange, message: "a total passes the range of its column (at most 2^63 - 1)", cause: self)
    case "TY001":
      // mark_call_wrote (migration 0022): a repeat took this call's idempotency_key over while it
      // neither wrote nor answered for 15 minutes; the write did not happen.
      return RPCError(
        code: .aborted,
        message:
          "a repeat of this call took its idempotency_key over while it stalled; this call's writes were not made",
        cause: self)
    case "40001", "40P01":
      return RPCError(code: .aborted, message: "the transaction conflicted with another; retry it", cause: self)
    case "55P03":
      // lock_timeout, or NOWAIT: another change held a row this call needed.
      return RPCError(
        code: .aborted, message: "a row this call needs was locked by another change; retry it", cause: self)
    case "57014":
      return cancelled
        ? RPCError(code: .cancelled, message: "the call was cancelled", cause: self)
        : RPCError(code: .deadlineExceeded, message: "the database statement ran out of time", cause: self)
    case "23502", "23514", "22001", "22007", "22008", "22P02":
      return self.refusedValue(logger: logger)
    case "08P01":
      // A protocol violation is a bug in how the server talks to PostgreSQL (e.g. a parameter count
      // that does not match the statement), not an outage: retrying would not help.
      logger.error("database protocol violation", metadata: ["error": "\(String(reflecting: self))"])
      return RPCError(code: .internalError, message: "internal error", cause: self)
    // The server ended or refused the session: shut down, crashed, starting, the database dropped,
    // an idle (in-transaction) session timed out, too many connections. The pool opens a new one.
    case "57P01", "57P02", "57P03", "57P04", "57P05", "25P03", "53300":
      return RPCError(code: .unavailable, message: "the database is unavailable", retryAfter: .seconds(1), cause: self)
    case "25006":
      // A standby, or a primary made read-only (during a fail-over, say): writes wait for a primary.
      return RPCError(
        code: .unavailable, message: "the database takes no writes at the moment", retryAfter: .seconds(1),
        cause: self)
    case "40003", "58000", "58030":
      // A statement whose end PostgreSQL lost, or an I/O failure on its side: the operator's to fix.
      logger.error("database failure", metadata: ["error": "\(String(reflecting: self))"])
      return RPCError(code: .unavailable, message: "the database is unavailable", retryAfter: .seconds(1), cause: self)
    case _ where state.hasPrefix("53"):
      // Out of disk, memory or a configured limit: no fault of the call, and it may pass later.
      logger.error("database out of resources", metadata: ["error": "\(String(reflecting: self))"])
      return RPCError(
        code: .unavailable, message: "the database is out of resources", retryAfter: .seconds(5), cause: self)
    case _ where state.hasPrefix("08") || (self.sqlState == nil && !self.isMisuse):
      return RPCError(code: .unavailable, message: "the database is unavailable", retryAfter: .seconds(1), cause: self)
    default:
      logger.error("database error", metadata: ["error": "\(String(reflecting: self))"])
      return RPCError(code: .internalError, message: "internal error", cause: self)
    }
  }

  /// A value the schema refused that no field check caught first: the request's, so INVALID_ARGUMENT,
  /// naming the column or the rule (never the value). Logged, since a field check should name it.
  private func refusedValue(logger: Logger) -> RPCError {
    logger.warning(
      "a value reached the database that no field check refused", metadata: ["error": "\(String(reflecting: self))"])
    let column = self.column.map { " (\($0))" } ?? ""
    let message: String
    switch self.sqlState {
    case "23502": message = "a required value is missing\(column)"
    case "23514": message = "a value is outside what is allowed" + (self.constraint.map { " (rule \($0))" } ?? "")
    case "22001": message = "a text value is longer than allowed\(column)"
    case "22007", "22008": message = "a date or time is outside what can be stored\(column)"
    default: message = "a value does not have the form its field needs\(column)"
    }
    return RPCError(code: .invalidArgument, message: message, cause: self)
  }

  /// What a foreign key refused: the columns that named a missing item and that item's table,
  /// never the row's values. Row-level security keeps the key's values out of PostgreSQL's detail
  /// (`Key is not present in table "accounts".`), so the columns come from the constraint's name,
  /// which PostgreSQL made of the table's and the columns' (`contacts_tenant_id_account_id_fkey`).
  /// A check before the write names the request's field; this is the race after it (an account
  /// deleted while a contact naming it was stored, say).
  var foreignKeyMessage: String {
    let generic = "a referenced item does not exist"
    guard let detail, let tableStart = detail.range(of: " table \"", options: .backwards),
      let tableEnd = detail.range(of: "\"", options: .backwards), tableStart.upperBound < tableEnd.lowerBound
    else { return generic }
    let referenced = detail[tableStart.upperBound..<tableEnd.lowerBound]
    var columns = ""
    if let table, let constraint, constraint.hasPrefix(table + "_tenant_id_"), constraint.hasSuffix("_fkey") {
      columns = String(constraint.dropFirst(table.count + "_tenant_id_".count).dropLast("_fkey".count))
    }
    if detail.hasSuffix("is not present in table \"\(referenced)\".") {
      guard !columns.isEmpty else { return "an item in \(referenced) that the request names does not exist" }
      return "\(columns) names no item in \(referenced) (it may have been deleted while this call ran)"
    }
    if detail.hasSuffix("is still referenced from table \"\(referenced)\".") {
      return "the item is still referenced from \(referenced)"
    }
    return generic
  }
}
