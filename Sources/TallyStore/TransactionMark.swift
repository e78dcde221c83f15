/// A statement that every read-write transaction of a task sends right after its BEGIN and
/// settings, so that it commits exactly when the transaction does. IdempotentCalls marks a call's
/// claim this way: a claim whose call committed a write is never run again.
public struct TransactionMark: Sendable {
  /// A transaction setting the statement's row-level security reads.
  public var setting: (name: String, value: String)
  /// SQL without parameters (its values checked by whoever built it).
  public var statement: String

  public init(setting: (name: String, value: String), statement: String) {
    self.setting = setting
    self.statement = statement
  }

  /// The mark of the running task's read-write transactions (none by default).
  @TaskLocal public static var current: TransactionMark?
}
