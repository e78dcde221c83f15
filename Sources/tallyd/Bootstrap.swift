import ArgumentParser
import Foundation
import Logging
import TallyCore
import TallyProto
import TallyStore

/// Keys and tenants made from the command line, through AdminService itself, as an operator would.
struct Bootstrap {
  let admin: AdminService
  let context: RequestContext

  init(pool: PostgresPool) {
    var logger = Logger(label: "tallyd-bootstrap")
    logger.logLevel = .warning
    self.admin = AdminService(pool: pool)
    self.context = RequestContext(
      principal: Principal(keyID: "bootstrap", tenantID: nil, scopes: [.operator]),
      tenantID: nil,
      method: "bootstrap",
      requestID: "bootstrap",
      connectionLogger: logger
    )
  }

  func operatorKey(name: String) async throws -> String {
    var request = Tally_V1_CreateApiKeyRequest()
    request.name = name
    request.scopes = ["operator"]
    return try await self.admin.createApiKey(request, self.context).key
  }

  func tenant(name: String, currency: String) async throws -> String {
    var request = Tally_V1_CreateTenantRequest()
    request.name = name
    request.currency = currency
    return try await self.admin.createTenant(request, self.context).tenantID
  }

  func tenantKey(tenantID: String, name: String, scopes: [String]) async throws -> String {
    var request = Tally_V1_CreateApiKeyRequest()
    request.tenantID = tenantID
    request.name = name
    request.scopes = scopes
    return try await self.admin.createApiKey(request, self.context).key
  }
}

/// The first operator key of a new installation (later ones can come from `tally keys create`).
struct OperatorKey: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "operator-key",
    abstract: "Create an operator API key in the database and print it (once)."
  )

  @Option(help: "The runtime role's database URL (or TALLY_DATABASE_URL).")
  var databaseURL: String?

  @Option(help: "What the key is for, e.g. the agency team's name.")
  var name: String

  func run() async throws {
    guard let url = self.databaseURL ?? ProcessInfo.processInfo.environment["TALLY_DATABASE_URL"] else {
      throw ValidationError("give the database URL with --database-url or TALLY_DATABASE_URL")
    }
    var logger = Logger(label: "tallyd")
    logger.logLevel = .warning
    let pool = PostgresPool(configuration: .init(conninfo: url, size: 1), logger: logger)
    defer { pool.close() }
    let key = try await Bootstrap(pool: pool).operatorKey(name: self.name)
    print(key)
    FileHandle.standardError.write(Data("store this key now: it is not shown again\n".utf8))
  }
}
