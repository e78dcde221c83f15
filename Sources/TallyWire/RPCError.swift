/// The error a call ends with: a status code, a message for a person, and for bad input the
/// fields at fault. It is what a STATUS frame carries, on both sides of the connection.
///
/// `description` holds only what the peer may read; `cause` stays on this side and appears
/// only in `String(reflecting:)`, for logs.
public struct RPCError: Error, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
  /// gRPC's status codes, with gRPC's numbers (`tally.v1.StatusCode`); unknown numbers survive.
  public struct Code: Hashable, Sendable, CustomStringConvertible {
    public var rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }

    public static let ok = Code(rawValue: 0)
    public static let cancelled = Code(rawValue: 1)
    public static let unknown = Code(rawValue: 2)
    public static let invalidArgument = Code(rawValue: 3)
    public static let deadlineExceeded = Code(rawValue: 4)
    public static let notFound = Code(rawValue: 5)
    public static let alreadyExists = Code(rawValue: 6)
    public static let permissionDenied = Code(rawValue: 7)
    public static let resourceExhausted = Code(rawValue: 8)
    public static let failedPrecondition = Code(rawValue: 9)
    public static let aborted = Code(rawValue: 10)
    public static let outOfRange = Code(rawValue: 11)
    public static let unimplemented = Code(rawValue: 12)
    public static let internalError = Code(rawValue: 13)
    public static let unavailable = Code(rawValue: 14)
    public static let dataLoss = Code(rawValue: 15)
    public static let unauthenticated = Code(rawValue: 16)

    private static let names = [
      "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
      "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
      "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
      "UNAUTHENTICATED",
    ]

    /// The upper-case name used on the wire and by the CLI, e.g. `NOT_FOUND`.
    public var description: String {
      Self.names.indices.contains(self.rawValue) ? Self.names[self.rawValue] : "CODE_\(self.rawValue)"
    }

    /// Parses the upper-case name back, for the CLI and tests.
    public init?(name: String) {
      guard let index = Self.names.firstIndex(of: name) else { return nil }
      self.rawValue = index
    }
  }

  /// One bad field of a request: its path and what is allowed.
  public struct FieldViolation: Hashable, Sendable, CustomStringConvertible {
    public var field: String
    public var description: String
    public init(field: String, description: String) {
      self.field = field
      self.description = description
    }
  }

  public var code: Code
  public var message: String
  public var fieldViolations: [FieldViolation]
  /// Violations counted but left out of `fieldViolations` (past `maxFieldViolations`), so that a
  /// check that gathers several errors into one can still say how many there were.
  public var omittedFieldViolations = 0
  /// For RESOURCE_EXHAUSTED and UNAVAILABLE: when the caller may try again.
  public var retryAfter: Duration?
  /// What caused it on this side; never sent to the peer.
  public var cause: (any Error)?

  public init(
    code: Code,
    message: String,
    fieldViolations: [FieldViolation] = [],
    retryAfter: Duration? = nil,
    cause: (any Error)? = nil
  ) {
    self.code = code
    self.message = message
    self.fieldViolations = fieldViolations
    self.retryAfter = retryAfter
    self.cause = cause
  }

  /// INVALID_ARGUMENT naming the fields at fault (the first `maxFieldViolations`, and how many
  /// more, `omitted` of them never built).
  public static func invalidArgument(_ violations: [FieldViolation], omitted: Int = 0) -> RPCError {
    let kept = violations.prefix(Self.maxFieldViolations)
    let more = omitted + violations.count - kept.count
    var listed = kept.prefix(Self.violationsInMessage).map { "\($0.field): \($0.description)" }.joined(separator: "; ")
    if kept.count + more > Self.violationsInMessage {
      listed +=
        "; and \(kept.count + more - Self.violationsInMessage) more (\(kept.count + more) in all"
        + (more > 0 ? ", the first \(kept.count) in field_violations)" : ", all in field_violations)")
    }
    var error = RPCError(code: .invalidArgument, message: listed, fieldViolations: Array(kept))
    error.omittedFieldViolations = more
    return error
  }

  /// At most this many violations travel in one STATUS (the rest are counted in its message), so
  /// that a request of millions of bad entries gets an answer of a few kilobytes.
  public static let maxFieldViolations = 100
  /// The message lists the first few; `field_violations` has them all (up to the maximum).
  public static let violationsInMessage = 10

  /// INVALID_ARGUMENT for one field.
  public static func invalidArgument(field: String, _ description: String) -> RPCError {
    invalidArgument([FieldViolation(field: field, description: description)])
  }

  /// FAILED_PRECONDITION naming the field whose value the system's state refuses (a well-formed
  /// value that cannot be used now), in the same form as INVALID_ARGUMENT's.
  public static func failedPrecondition(field: String, _ description: String) -> RPCError {
    var error = invalidArgument(field: field, description)
    error.code = .failedPrecondition
    return error
  }

  /// NOT_FOUND naming the request field whose value names no row (an account a contact names, say),
  /// in the same form as INVALID_ARGUMENT's.
  public static func notFound(field: String, _ description: String) -> RPCError {
    var error = invalidArgument(field: field, description)
    error.code = .notFound
    return error
  }

  public var description: String { "\(self.code): \(self.message)" }

  public var debugDescription: String {
    var text = self.description
    if !self.fieldViolations.isEmpty {
      text += " \(self.fieldViolations.map { "[\($0.field)] \($0.description)" })"
    }
    if let retryAfter = self.retryAfter { text += " (retry after \(retryAfter))" }
    if let cause = self.cause { text += " (cause: \(String(reflecting: cause)))" }
    return text
  }
}
