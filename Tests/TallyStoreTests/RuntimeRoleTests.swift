import TallyStore
import TallyTestSupport
import Testing

/// `RuntimeRole`, which tallyd reads at start to refuse a role that row-level security does not hold.
@Suite struct RuntimeRoleTests {
  @Test func theAppRoleMayServeAndTheOwnerMayNot() async throws {
    let database = try await TestDatabase.create()
    let (app, owner) = try await onOwnThread {
      let app = try PostgresConnection(conninfo: database.appURL)
      defer { app.close() }
      let owner = try PostgresConnection(conninfo: database.ownerURL)
      defer { owner.close() }
      return (try RuntimeRole(of: app), try RuntimeRole(of: owner))
    }
    #expect(app == RuntimeRole(name: "tally_app", isSuperuser: false, bypassesRowSecurity: false, ownsTables: false))
    #expect(app.refusal == nil)
    #expect(owner.name == "tally_owner" && owner.ownsTables && !owner.isSuperuser)
    #expect(owner.refusal?.contains("tally_owner owns the tables") == true)
    let superuser = RuntimeRole(name: "postgres", isSuperuser: true, bypassesRowSecurity: true, ownsTables: true)
    #expect(superuser.refusal?.contains("is a superuser and bypasses row-level security and owns the tables") == true)
  }
}
