import CLibPQ
import Glibc

/// One libpq connection, used by one pool thread at a time. Every statement is prepared once per
/// connection and then executed by name, so user values only ever travel as parameters.
public final class PostgresConnection {
  private var handle: OpaquePointer?
  private let conninfo: String
  private var preparedStatements: PreparedStatements
  let observer: PostgresStatement.Observer?
  /// Where the transaction of `begin` stands (PostgresConnection+Transactions.swift).
  var transaction = TransactionState.none
  /// Whether the work on this connection has been cancelled: no statement, COMMIT included, is sent
  /// after that. PostgreSQL ignores a cancel that reaches a backend between statements, so without
  /// this a transaction could commit after its caller was told CANCELLED or DEADLINE_EXCEEDED.
  var isCancelled: @Sendable () -> Bool = { false }
  /// The pool's job this connection runs, so that work it hands to another connection stops with it.
  var runningJob: Job?

  /// Opens a connection; `conninfo` is a `postgresql://` URL or a `key=value` string. `observer`
  /// sees every statement before it runs (for `tallyd kpi-sql`; nil in the server).
  public convenience init(conninfo: String, observer: PostgresStatement.Observer? = nil) throws {
    try self.init(conninfo: conninfo, observer: observer, statementBudget: PreparedStatements.Budget())
  }

  /// A connection that keeps at most `budget` of prepared statements (tests use a small one).
  init(
    conninfo: String, observer: PostgresStatement.Observer? = nil, statementBudget budget: PreparedStatements.Budget
  ) throws {
    self.conninfo = conninfo
    self.observer = observer
    self.preparedStatements = PreparedStatements(budget: budget)
    try self.connect()
  }

  deinit { self.close() }

  /// Whether the last statement left the connection usable.
  public var isHealthy: Bool { self.handle.map { PQstatus($0) == CONNECTION_OK } ?? false }

  /// Whether an idle connection is still usable, reading what the server sent it meanwhile first
  /// (libpq's socket never blocks): a backend that ended since (a restart, a terminate, an idle
  /// timeout) left its FATAL and end of file unread, and looked healthy until a job failed on it.
  var isAliveWhileIdle: Bool {
    guard let handle = self.handle else { return false }
    // Twice: a read that brings the FATAL returns with it, the end of file needs the next one.
    for _ in 0..<2 where PQconsumeInput(handle) == 0 { break }
    return PQstatus(handle) == CONNECTION_OK
  }

  /// Client-side limits libpq does without: a database host that vanishes without a FIN or RST (a
  /// failover moving its address, a paused VM) would hold a pool thread for the kernel's two hours
  /// of keepalive. Dead in about a minute instead; the conninfo's own values win (they come after).
  public static let connectionDefaults: KeyValuePairs<String, String> = [
    "connect_timeout": "10", "keepalives": "1", "keepalives_idle": "30", "keepalives_interval": "10",
    "keepalives_count": "3", "tcp_user_timeout": "30000",
  ]

  /// (Re)opens the connection, with session settings that make results independent of the server's defaults.
  public func connect() throws {
    self.close()
    guard let connection = Self.open(self.conninfo) else {
      throw PostgresError(sqlState: nil, message: "libpq could not allocate a connection")
    }
    guard PQstatus(connection) == CONNECTION_OK else {
      let message = String(cString: PQerrorMessage(connection))
      PQfinish(connection)
      throw PostgresError(sqlState: nil, message: message.trimmingTrailingNewlines)
    }
    self.handle = connection
    do {
      try self.execute(
        "SET TIME ZONE 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'iso_8601'; SET client_min_messages = warning"
      )
    } catch {
      // Without its settings the connection would read and write times in the server's zone.
      self.close()
      throw error
    }
  }

  /// `PQconnectdbParams` with `connectionDefaults` first and the conninfo (expanded) last.
  private static func open(_ conninfo: String) -> OpaquePointer? {
    let keywords = Self.connectionDefaults.map { strdup($0.key) } + [strdup("dbname"), nil]
    let values = Self.connectionDefaults.map { strdup($0.value) } + [strdup(conninfo), nil]
    defer { for string in keywords + values { free(string) } }
    return PQconnectdbParams(
      keywords.map { $0.map { UnsafePointer($0) } }, values.map { $0.map { UnsafePointer($0) } }, 1)
  }

  /// The value libpq uses for a connection option (`keepalives_idle`, say), nil when unset or closed.
  public func option(_ keyword: String) -> String? {
    guard let handle, let options = PQconninfo(handle) else { return nil }
    defer { PQconninfoFree(options) }
    var option = options
    while let name = option.pointee.keyword {
      if String(cString: name) == keyword { return option.pointee.val.map { String(cString: $0) } }
      option += 1
    }
    return nil
  }

  public func close() {
    if let handle { PQfinish(handle) }
    self.handle = nil
    self.preparedStatements.removeAll()
    self.transaction = .none
  }

  /// Runs SQL without parameters (several statements allowed): for fixed text only.
  public func execute(_ sql: String) throws {
    try self.checkNotCancelled()
    try self.executeEvenIfCancelled(sql)
  }

  /// `execute`, also after a cancel: for ROLLBACK, which ends what the cancel stopped.
  func executeEvenIfCancelled(_ sql: String) throws {
    let connection = try self.connection()
    try self.sendPendingBegin(connection)
    self.observer?(PostgresStatement(sql: sql, parameters: nil))
    let result = PQexec(connection, sql)
    defer { PQclear(result) }
    try self.check(result, connection)
  }

  /// Runs one statement with parameters, prepared on first use.
  @discardableResult
  public func query(_ sql: String, _ parameters: [(any PostgresBindable)?] = []) throws -> PostgresResult {
    try self.run(sql, parameters, commit: false)
  }

  /// Runs the last statement of the transaction `begin` started and commits it, in one round trip
  /// (with BEGIN too when it is also the first). The transaction runs no statement after it.
  @discardableResult
  public func queryAndCommit(_ sql: String, _ parameters: [(any PostgresBindable)?] = []) throws -> PostgresResult {
    try self.run(sql, parameters, commit: true)
  }

  private func run(_ sql: String, _ parameters: [(any PostgresBindable)?], commit: Bool) throws -> PostgresResult {
    try self.checkNotCancelled()
    let bound = BoundParameters(parameters)
    // libpq takes text parameters as C strings, which a NUL would cut short: a value that is not
    // what the caller sent. Validation refuses NULs field by field; this is the floor under it.
    if let index = bound.firstWithNUL {
      throw PostgresError(sqlState: "22021", message: "parameter $\(index + 1) holds a NUL character")
    }
    let connection = try self.connection()
    try self.deallocateEvicted(connection)
    let name = try self.prepare(sql, parameterCount: parameters.count, connection)
    do {
      if let result = try self.pipelineIfTransactionNeeds((sql, name, bound), commit: commit, connection) {
        return result
      }
      self.observer?(PostgresStatement(sql: sql, parameters: bound.texts))
      let result = bound.withLibpqArrays { values, lengths, formats in
        PQexecPrepared(connection, name, Int32(values.count), values, lengths, formats, 0)
      }
      defer { PQclear(result) }
      try self.check(result, connection)
      return Self.read(result)
    } catch let error as PostgresError where error.sqlState == "0A000" {
      // "cached plan must not change result type": this statement fails every time from now on,
      // on this connection, until it is prepared again.
      self.preparedStatements.forget(sql)
      throw error
    }
  }

  /// Streams rows into `COPY … FROM STDIN` (text format); returns how many rows went in.
  public func copyIn(_ sql: String, chunks: some Sequence<[UInt8]>) throws -> Int {
    try self.checkNotCancelled()
    let connection = try self.connection()
    try self.sendPendingBegin(connection)
    let start = PQexec(connection, sql)
    let status = PQresultStatus(start)
    if status != PGRES_COPY_IN {
      defer { PQclear(start) }
      try self.check(start, connection)
      var error = PostgresError(sqlState: nil, message: "the statement did not start a COPY FROM STDIN")
      error.isMisuse = true
      throw error
    }
    PQclear(start)
    for chunk in chunks where !chunk.isEmpty {
      let sent = chunk.withUnsafeBufferPointer { bytes in
        bytes.withMemoryRebound(to: CChar.self) { PQputCopyData(connection, $0.baseAddress, Int32($0.count)) }
      }
      guard sent == 1 else { break }
    }
    guard PQputCopyEnd(connection, nil) == 1 else {
      throw PostgresError(sqlState: nil, message: String(cString: PQerrorMessage(connection)))
    }
    var rows = 0
    while let result = PQgetResult(connection) {
      defer { PQclear(result) }
      try self.check(result, connection)
      rows += Int(String(cString: PQcmdTuples(result))) ?? 0
    }
    return rows
  }

  /// The error PostgreSQL gives a cancelled statement, for one that was not sent at all.
  private func checkNotCancelled() throws {
    guard self.isCancelled() else { return }
    throw PostgresError(sqlState: "57014", message: "canceling statement due to user request (before it was sent)")
  }

  /// A token another thread may use to cancel the statement running on this connection.
  func makeCancelToken() -> CancelToken? {
    guard let handle, let cancel = PQgetCancel(handle) else { return nil }
    return CancelToken(cancel)
  }

  // MARK: libpq details

  func connection() throws -> OpaquePointer {
    guard let handle else { throw PostgresError(sqlState: nil, message: "the connection is closed") }
    return handle
  }

  func prepare(_ sql: String, parameterCount: Int, _ connection: OpaquePointer) throws -> String {
    if let name = self.preparedStatements.name(of: sql) { return name }
    let name = self.preparedStatements.newName()
    let result = PQprepare(connection, name, sql, Int32(parameterCount), nil)
    defer { PQclear(result) }
    try self.check(result, connection)
    self.preparedStatements.add(sql, as: name)
    return name
  }

  /// Sends DEALLOCATE for the statements evicted from the budget, before a statement and only
  /// outside a transaction: inside one, a DEALLOCATE that failed (a cancel landing on it) would
  /// abort the caller's transaction. So evictions wait for the next transaction's first statement
  /// (its BEGIN goes with it, after this); each is tried until the server has taken it, and a
  /// cancel that lands here is the caller's, as it would have been on its statement.
  func deallocateEvicted(_ connection: OpaquePointer) throws {
    guard !self.preparedStatements.evicted.isEmpty, PQtransactionStatus(connection) == PQTRANS_IDLE else { return }
    let names = self.preparedStatements.takeEvicted()
    for (index, name) in names.enumerated() {
      let result = PQexec(connection, "DEALLOCATE \(name)")
      defer { PQclear(result) }
      do {
        try self.check(result, connection)
      } catch let error as PostgresError where error.sqlState == "26000" {
        continue  // invalid_sql_statement_name: the server holds no such statement, nothing to free
      } catch {
        self.preparedStatements.keepEvicted(names[index...])
        throw error
      }
    }
    try self.checkNotCancelled()
  }

  /// How many prepared statements the connection keeps, and how many it has yet to deallocate.
  var preparedStatementCounts: (kept: Int, toDeallocate: Int) {
    (self.preparedStatements.count, self.preparedStatements.evicted.count)
  }

  func check(_ result: OpaquePointer?, _ connection: OpaquePointer) throws {
    let status = result.map(PQresultStatus) ?? PGRES_FATAL_ERROR
    switch status {
    case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY, PGRES_COPY_IN:
      return
    default:
      func field(_ code: UInt8) -> String? {
        guard let result, let text = PQresultErrorField(result, Int32(code)) else { return nil }
        return String(cString: text)
      }
      let message = field(UInt8(ascii: "M")) ?? String(cString: PQerrorMessage(connection)).trimmingTrailingNewlines
      var error = PostgresError(sqlState: field(UInt8(ascii: "C")), message: message, detail: field(UInt8(ascii: "D")))
      (error.table, error.constraint) = (field(UInt8(ascii: "t")), field(UInt8(ascii: "n")))
      error.column = field(UInt8(ascii: "c"))
      throw error
    }
  }

  static func read(_ result: OpaquePointer?) -> PostgresResult {
    guard let result else { return PostgresResult(columnNames: [], rows: [], affectedRows: 0) }
    let columnCount = Int(PQnfields(result))
    let rowCount = Int(PQntuples(result))
    let names = (0..<columnCount).map { String(cString: PQfname(result, Int32($0))) }
    let columns = Dictionary(names.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
    var rows: [PostgresRow] = []
    rows.reserveCapacity(rowCount)
    for row in 0..<rowCount {
      let values = (0..<columnCount).map { column -> String? in
        PQgetisnull(result, Int32(row), Int32(column)) == 1
          ? nil : String(cString: PQgetvalue(result, Int32(row), Int32(column)))
      }
      rows.append(PostgresRow(values: values, columns: columns))
    }
    return PostgresResult(columnNames: names, rows: rows, affectedRows: Int(String(cString: PQcmdTuples(result))) ?? 0)
  }
}

/// libpq's cancel request, usable from any thread while the statement runs.
final class CancelToken: @unchecked Sendable {
  // PQcancel is documented as safe to call from another thread; the token is freed once.
  private let cancel: OpaquePointer

  init(_ cancel: OpaquePointer) { self.cancel = cancel }
  deinit { PQfreeCancel(self.cancel) }

  func send() {
    var buffer = [CChar](repeating: 0, count: 256)
    _ = PQcancel(self.cancel, &buffer, Int32(buffer.count))
  }
}

extension String {
  var trimmingTrailingNewlines: String {
    var text = self
    while text.last == "\n" { text.removeLast() }
    return text
  }
}
