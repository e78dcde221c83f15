import CLibPQ

/// Where a connection's transaction stands. BEGIN waits for the transaction's first statement and
/// COMMIT may go with its last, in libpq's pipeline mode: a transaction of one statement costs one
/// round trip, and every transaction two fewer than BEGIN, statements and COMMIT sent one by one.
enum TransactionState {
  case none
  /// Begun, not yet sent: BEGIN, these settings and the mark go with the first statement.
  case pending(TransactionKind, [(name: String, value: String)], TransactionMark?)
  /// BEGIN has been sent (it may have failed: ROLLBACK is then harmless).
  case open
  /// Committed with its last statement (`queryAndCommit`); `commit()` has nothing left to send.
  case committed
}

/// How a transaction begins.
public enum TransactionKind: Sendable, Equatable {
  /// READ COMMITTED, reads and writes: every statement sees the rows committed before it.
  case readWrite
  /// REPEATABLE READ, READ ONLY: every statement sees one snapshot, the transaction's own (nil) or
  /// one that another open transaction exported with `pg_export_snapshot()`.
  case snapshotRead(importing: String?)

  /// The statements that begin it, before anything that takes a snapshot (`set_config` does).
  func statements() throws -> [String] {
    switch self {
    case .readWrite: return ["BEGIN"]
    case .snapshotRead(nil): return [Self.snapshotBegin]
    case .snapshotRead(let snapshot?):
      // pg_export_snapshot's ids are hex digits and dashes ("00000003-0000001B-1"); nothing else is quoted in.
      guard !snapshot.isEmpty, snapshot.allSatisfy({ $0.isHexDigit || $0 == "-" }) else {
        throw PostgresError(sqlState: "22023", message: "not a snapshot id: \(snapshot)")
      }
      return [Self.snapshotBegin, "SET TRANSACTION SNAPSHOT '\(snapshot)'"]
    }
  }

  private static let snapshotBegin = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
}

extension PostgresConnection {
  /// Begins a transaction of `kind` with `settings` (`set_config(name, value, true)` each) and
  /// `mark`. Nothing is sent yet: they go with the transaction's first statement.
  public func begin(
    _ kind: TransactionKind = .readWrite, settings: [(name: String, value: String)] = [], mark: TransactionMark? = nil
  ) {
    self.transaction = .pending(kind, settings, mark)
  }

  /// Commits the transaction `begin` started. One that ran no statement was never sent; one whose
  /// last statement carried its COMMIT is already committed.
  public func commit() throws {
    // Still open until COMMIT succeeds: a COMMIT refused (cancelled, say) leaves it for `rollback`.
    if case .open = self.transaction {
      do {
        try self.execute("COMMIT")
      } catch var error as PostgresError where !self.isHealthy {
        // The connection broke with COMMIT sent: whether it committed, nobody here can tell.
        error.commitOutcomeUnknown = true
        throw error
      }
    }
    self.transaction = .none
  }

  /// Rolls back the transaction `begin` started, if it reached the server and the connection lives.
  public func rollback() {
    let state = self.transaction
    self.transaction = .none
    if case .open = state, self.isHealthy { try? self.executeEvenIfCancelled("ROLLBACK") }
  }

  /// Ends whatever transaction a job left on the connection (one whose COMMIT or ROLLBACK failed),
  /// so that the next job, perhaps another tenant's, starts on a clean connection; closes the
  /// connection when that fails.
  func endLeftoverTransaction() {
    self.transaction = .none
    guard let handle = try? self.connection(), PQtransactionStatus(handle) != PQTRANS_IDLE else { return }
    try? self.executeEvenIfCancelled("ROLLBACK")
    if PQtransactionStatus(handle) != PQTRANS_IDLE { self.close() }
  }

  private static let setConfigSQL = "SELECT set_config($1, $2, true)"

  /// Sends a begun transaction's BEGIN and settings on their own, before a statement that cannot
  /// join a pipeline (several statements in one text, COPY).
  func sendPendingBegin(_ connection: OpaquePointer) throws {
    switch self.transaction {
    case .none, .open: return
    case .committed: throw Self.afterCommit
    case .pending(let kind, let settings, let mark):
      let begin = try Begin(kind, settings, mark)
      self.transaction = .open
      _ = try self.pipeline(begin: begin, then: nil, commit: false, connection)
    }
  }

  /// Runs `statement` in a pipeline when the transaction has BEGIN to send first or COMMIT to send
  /// after; nil when it should run on its own.
  func pipelineIfTransactionNeeds(
    _ statement: (sql: String, name: String, parameters: BoundParameters),
    commit: Bool,
    _ connection: OpaquePointer
  ) throws -> PostgresResult? {
    let begin: Begin?
    switch self.transaction {
    case .committed: throw Self.afterCommit
    case .none: return nil
    case .open where !commit: return nil
    case .open: begin = nil
    case .pending(let kind, let settings, let mark): begin = try Begin(kind, settings, mark)
    }
    self.transaction = .open
    let result: PostgresResult?
    do {
      result = try self.pipeline(begin: begin, then: statement, commit: commit, connection)
    } catch var error as PostgresError where commit && !self.isHealthy {
      // The connection broke with COMMIT sent: whether it committed, nobody here can tell.
      error.commitOutcomeUnknown = true
      throw error
    }
    guard let result else {
      var error = PostgresError(sqlState: nil, message: "the pipeline ended without the statement's result")
      error.isMisuse = true
      throw error
    }
    if commit { self.transaction = .committed }
    return result
  }

  /// What a transaction sends before its first statement: BEGIN, its settings, then its mark.
  private struct Begin {
    var statements: [String]
    var settings: [(name: String, value: String)]
    var mark: String?

    init(_ kind: TransactionKind, _ settings: [(name: String, value: String)], _ mark: TransactionMark?) throws {
      self.statements = try kind.statements()
      self.settings = settings + (mark.map { [$0.setting] } ?? [])
      self.mark = mark?.statement
    }
  }

  /// A server bug, not an outage: 25000 (invalid transaction state) makes it INTERNAL.
  private static let afterCommit = PostgresError(
    sqlState: "25000", message: "a statement after its transaction's COMMIT: queryAndCommit must be the last")

  /// BEGIN (its statements) and its settings when given, `statement` (prepared) and COMMIT (when asked) sent together
  /// and answered in one round trip. Returns the statement's result; throws the first error. A
  /// connection that breaks halfway is closed, so that the pool opens a new one.
  private func pipeline(
    begin: Begin?,
    then statement: (sql: String, name: String, parameters: BoundParameters)?,
    commit: Bool,
    _ connection: OpaquePointer
  ) throws -> PostgresResult? {
    enum Command {
      case text(String)
      case prepared(name: String, parameters: BoundParameters)
    }
    var commands: [Command] = []
    var statementIndex: Int?
    if let begin {
      let setConfig = try self.prepare(Self.setConfigSQL, parameterCount: 2, connection)
      for sql in begin.statements {
        commands.append(.text(sql))
        self.observer?(PostgresStatement(sql: sql, parameters: nil))
      }
      for setting in begin.settings {
        commands.append(.prepared(name: setConfig, parameters: BoundParameters([setting.name, setting.value])))
        self.observer?(PostgresStatement(sql: Self.setConfigSQL, parameters: [setting.name, setting.value]))
      }
      if let mark = begin.mark {
        commands.append(.text(mark))
        self.observer?(PostgresStatement(sql: mark, parameters: nil))
      }
    }
    if let statement {
      statementIndex = commands.count
      commands.append(.prepared(name: statement.name, parameters: statement.parameters))
      self.observer?(PostgresStatement(sql: statement.sql, parameters: statement.parameters.texts))
    }
    if commit {
      commands.append(.text("COMMIT"))
      self.observer?(PostgresStatement(sql: "COMMIT", parameters: nil))
    }
    guard PQenterPipelineMode(connection) == 1 else { throw self.broken(connection) }
    for command in commands {
      let sent: Int32
      switch command {
      case .text(let sql): sent = PQsendQueryParams(connection, sql, 0, nil, nil, nil, nil, 0)
      case .prepared(let name, let parameters):
        sent = parameters.withLibpqArrays { values, lengths, formats in
          PQsendQueryPrepared(connection, name, Int32(values.count), values, lengths, formats, 0)
        }
      }
      guard sent == 1 else { throw self.broken(connection) }
    }
    guard PQpipelineSync(connection) == 1 else { throw self.broken(connection) }
    var command = 0
    var ended = false
    var failure: (any Error)?
    var answer: PostgresResult?
    // Each command's results end with a NULL; the Sync's result ends the pipeline. Two NULLs in a
    // row mean that no Sync is coming: the connection is gone.
    while true {
      guard let result = PQgetResult(connection) else {
        if ended { break }
        ended = true
        command += 1
        continue
      }
      ended = false
      defer { PQclear(result) }
      let status = PQresultStatus(result)
      if status == PGRES_PIPELINE_SYNC { break }
      if status == PGRES_PIPELINE_ABORTED { continue }
      do {
        try self.check(result, connection)
        if command == statementIndex { answer = Self.read(result) }
      } catch {
        failure = failure ?? error
      }
    }
    guard PQexitPipelineMode(connection) == 1 else {
      let error = self.broken(connection)
      throw failure ?? error
    }
    if let failure { throw failure }
    return answer
  }

  /// libpq's error for a connection that failed in the middle of a pipeline, which it then closes.
  private func broken(_ connection: OpaquePointer) -> PostgresError {
    let error = PostgresError(
      sqlState: nil, message: String(cString: PQerrorMessage(connection)).trimmingTrailingNewlines)
    self.close()
    return error
  }
}
