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

/// `tallyd kpi-sql`: runs one GetKpis through the real handler, records every statement it sends
/// to PostgreSQL, and prints them as a psql script that replays the call's transaction with
/// `\timing on`: to read the plans of a dashboard, and the direct-SQL baseline of `make bench`.
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

  func validate() throws {
    guard (1...10_000).contains(self.iterations) else { throw ValidationError("--iterations must be 1 to 10000") }
  }

  func run() async throws {
    let recorded = NIOLockedValueBox<[PostgresStatement]>([])
    let pool = PostgresPool(
      configuration: .init(conninfo: self.databaseURL, size: 1) { statement in
        recorded.withLockedValue { $0.append(statement) }
      },
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
    _ = try await call(ByteBuffer(bytes: try request.serializedBytes() as [UInt8]), context)
    let header = "GetKpis of dashboard \(self.dashboard), \(self.from) to \(self.to), tenant \(self.tenant)"
    print(PsqlReplayScript(recorded.withLockedValue { $0 }, iterations: self.iterations, title: header).text)
  }
}
