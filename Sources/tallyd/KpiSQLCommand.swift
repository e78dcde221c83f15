import ArgumentParser
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import SwiftProtobuf
import TallyCore
import TallyProto
import TallyStore
import TallyWire

#if canImport(Glibc)
  import Glibc
#endif

/// `tallyd kpi-sql`: runs one GetKpis through the real handler, records every statement it sends
/// to PostgreSQL, and prints them as a psql script that replays the call's transaction with
/// `\timing on`: to read the plans of a dashboard, and the direct-SQL baseline of `make bench`.
/// The call runs as the server runs it, on two connections that share its snapshot: the statements
/// of the second (SnapshotReads' helper) go to `--helper-script`, which the baseline replays at the
/// same time as the first's.
struct KpiSQLCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "kpi-sql", abstract: "Print the SQL of one GetKpis call as a psql script (prepared, timed).")

  @Option(help: "The server role's database URL (tallyd dev's profile has it as database_url).")
  var databaseURL: String
  @Option(help: "The tenant's id.") var tenant: String
  @Option(help: "The period's first day, YYYY-MM-DD.") var from: String
  @Option(help: "The day after the period, YYYY-MM-DD.") var to: String
  @Option(help: "The dashboard (default: the headline KPIs).") var dashboard = "default"
  @Option(help: "none, day, week, month or quarter.") var bucket = "none"
  @Option(help: "How many times the script replays the call's transaction.") var iterations = 20
  @Option(
    help: """
      Write the statements the call's second connection ran as a psql script to this file (without \
      it, the call runs on one connection, its statements one after another).
      """)
  var helperScript: String?

  func validate() throws {
    guard (1...10_000).contains(self.iterations) else { throw ValidationError("--iterations must be 1 to 10000") }
  }

  func run() async throws {
    let recorder = ConnectionStatements()
    let pool = PostgresPool(
      configuration: .init(
        conninfo: self.databaseURL, size: self.helperScript == nil ? 1 : 2, statementObserver: recorder.record),
      logger: Logger(label: "tallyd.kpi-sql"))
    defer { pool.close() }
    var router = Router()
    KpiService(pool: pool).register(into: &router)
    guard let method = router.method(named: KpiMethods.getKpis.fullName), case .unary(let call) = method.body else {
      throw ValidationError("GetKpis is not routed")
    }
    var request = Tally_V1_GetKpisRequest()
    request.dashboard = self.dashboard
    request.from = self.from
    request.to = self.to
    request.bucket = self.bucket == "none" ? "" : self.bucket
    let context = RequestContext(
      principal: Principal(keyID: "kpi-sql", tenantID: self.tenant, scopes: [.read]), tenantID: self.tenant,
      method: KpiMethods.getKpis.fullName, requestID: "kpi-sql", connectionLogger: Logger(label: "tallyd.kpi-sql"))
    let payload = ByteBuffer(bytes: try request.serializedBytes() as [UInt8])
    // The first call opens the connections (a helper that waits for one takes fewer statements);
    // the second, on connections already open as a server's are, is the one replayed.
    _ = try await call(payload, context)
    recorder.startCall()
    _ = try await call(payload, context)
    let (main, helper) = recorder.lastCall()
    let header = "GetKpis of dashboard \(self.dashboard), \(self.from) to \(self.to), tenant \(self.tenant)"
    print(PsqlReplayScript(main, iterations: self.iterations, title: header).text)
    if let path = self.helperScript {
      // Its snapshot was the call's: a replay's helper reads the same rows without importing it.
      let replayed = helper.filter { !$0.sql.hasPrefix("SET TRANSACTION SNAPSHOT") }
      let script = PsqlReplayScript(replayed, iterations: self.iterations, title: header + ", second connection")
      try (script.text + "\n").write(toFile: path, atomically: true, encoding: .utf8)
    }
  }
}

/// The statements each connection sent, told apart by the thread that sent them (each pool
/// connection has its own), and which call they belong to.
private final class ConnectionStatements: Sendable {
  private let sent = NIOLockedValueBox<[(thread: UInt, call: Int, statement: PostgresStatement)]>([])
  private let call = NIOLockedValueBox(0)

  var record: PostgresStatement.Observer {
    { [sent, call] statement in
      let thread = UInt(pthread_self())
      let current = call.withLockedValue { $0 }
      sent.withLockedValue { $0.append((thread, current, statement)) }
    }
  }

  func startCall() { self.call.withLockedValue { $0 += 1 } }

  /// The last call's statements: those of the connection that began it, and those of any other;
  /// each preceded by what its connection sent before its first transaction (its session settings).
  func lastCall() -> (main: [PostgresStatement], helper: [PostgresStatement]) {
    let sent = self.sent.withLockedValue { $0 }
    let last = sent.last?.call ?? 0
    guard let main = sent.first(where: { $0.call == last })?.thread else { return ([], []) }
    func statements(of thread: UInt) -> [PostgresStatement] {
      let own = sent.filter { $0.thread == thread }
      let setup = own.prefix { !$0.statement.sql.hasPrefix("BEGIN") }.map(\.statement)
      return setup + own.filter { $0.call == last }.map(\.statement)
    }
    let helper = sent.first { $0.call == last && $0.thread != main }?.thread
    return (statements(of: main), helper.map(statements(of:)) ?? [])
  }
}
