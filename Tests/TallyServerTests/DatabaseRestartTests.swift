import Foundation
import Logging
import TallyClient
import TallyCore
import TallyProto
import TallyStore
import TallyTestSupport
import TallyWire
import Testing

/// A call that hits a lost database connection gets UNAVAILABLE (retryable), never a wrong answer,
/// and the server answers again once PostgreSQL is back.
@Suite struct DatabaseRestartTests {
  @Test func unavailableWhileDownThenOKAfterRestart() async throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
      "tally-restart-\(UInt32.random(in: 0 ... .max))"
    ).path
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: directory)
    let postgres = EmbeddedPostgres(directory: directory, durable: false)
    defer {
      try? postgres.destroy()
      try? FileManager.default.removeItem(atPath: directory)
    }
    // initdb, the start and the migrations block for seconds: off the cooperative pool.
    let endpoints = try await onOwnThread {
      let endpoints = try postgres.start()
      let owner = try PostgresConnection(conninfo: endpoints.ownerURL)
      try Migrator(directory: TestDatabase.migrationsDirectory).migrate(owner)
      owner.close()
      return endpoints
    }
    let pool = PostgresPool(
      configuration: .init(conninfo: endpoints.appURL, size: 2, reconnectBackoff: .milliseconds(100)),
      logger: .init(label: "restart-test"))
    defer { pool.close() }
    let admin = AdminService(pool: pool)
    func registerAdmin(_ router: inout Router) { admin.register(into: &router) }
    let operatorKey = try TestDatabase.createOperatorKey(ownerURL: endpoints.ownerURL)
    try await TestServer.with(authenticator: DatabaseAuthenticator(pool: pool), services: registerAdmin) { server, _ in
      let client = try server.client(apiKey: operatorKey)
      _ = try await client.unary(AdminMethods.listTenants, Tally_V1_ListTenantsRequest())

      try await onOwnThread { try postgres.stop() }
      let down = await expectStatus(.unavailable) {
        try await client.unary(AdminMethods.listTenants, Tally_V1_ListTenantsRequest())
      }
      #expect(down?.retryAfter != nil, "UNAVAILABLE should say when to retry")

      _ = try await onOwnThread { try postgres.start() }
      let deadline = ContinuousClock.now + .seconds(30)
      var answered = false
      while ContinuousClock.now < deadline, !answered {
        do {
          _ = try await client.unary(AdminMethods.listTenants, Tally_V1_ListTenantsRequest())
          answered = true
        } catch let error as RPCError where error.code == .unavailable {
          try await Task.sleep(for: .milliseconds(100))
        }
      }
      #expect(answered, "the server did not answer again after PostgreSQL restarted")
      await client.close()
    }
  }
}
