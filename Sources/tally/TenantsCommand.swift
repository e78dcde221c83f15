import ArgumentParser
import TallyClient
import TallyProto
import TallyWire

/// `tally tenants`: the agency's client companies (operator keys).
struct Tenants: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Create, list, show, suspend and resume tenants, and set their call rates (needs an operator key).",
    subcommands: [Create.self, List.self, Get.self, Suspend.self, Resume.self, Rate.self]
  )

  /// `-o json` prints a list as one array and a single tenant as one object.
  static func show(_ tenants: [Tally_V1_Tenant], _ format: OutputFormat, list: Bool = false) throws {
    guard format != .json else {
      return try list ? Output.printMessageArray(tenants) : Output.printMessages(tenants)
    }
    let columns = { (tenant: Tally_V1_Tenant) in
      [
        tenant.tenantID, tenant.name, tenant.currency, tenant.status == .suspended ? "suspended" : "active",
        Output.time(tenant.createdAt),
      ]
    }
    let header = ["TENANT ID", "NAME", "CURRENCY", "STATUS", "CREATED"]
    // CSV: the rate and the burst as numbers, empty where the tenant takes the server's (0: not limited).
    let own = { (has: Bool, value: UInt32) in has ? "\(value)" : "" }
    Output.printTable(
      [header + ["CALL RATE"]] + tenants.map { columns($0) + [Self.callRate($0)] },
      csv: [header + ["CALLS PER SECOND", "CALL BURST"]]
        + tenants.map {
          columns($0) + [own($0.hasCallsPerSecond, $0.callsPerSecond), own($0.hasCallBurst, $0.callBurst)]
        })
  }

  /// "server's", "not limited", or the tenant's own rate and burst (each part it lacks is the server's).
  static func callRate(_ tenant: Tally_V1_Tenant) -> String {
    guard tenant.hasCallsPerSecond || tenant.hasCallBurst else { return "server's" }
    if tenant.hasCallsPerSecond, tenant.callsPerSecond == 0 { return "not limited" }
    let rate = tenant.hasCallsPerSecond ? "\(tenant.callsPerSecond)/s" : "server's rate"
    let burst = tenant.hasCallBurst ? "burst \(tenant.callBurst)" : "server's burst"
    return "\(rate), \(burst)"
  }

  struct Create: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Create a tenant.")
    @OptionGroup var connection: ConnectionOptions
    @Option(help: "The client company's name (1 to 200 characters).") var name: String
    @Option(help: "ISO 4217 currency of every amount, e.g. EUR.") var currency: String

    func run() async throws {
      var request = Tally_V1_CreateTenantRequest()
      request.name = self.name
      request.currency = self.currency
      let tenant = try await self.connection.unary(AdminMethods.createTenant, request)
      try Tenants.show([tenant], self.connection.output)
    }
  }

  struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List tenants, oldest first.")
    @OptionGroup var connection: ConnectionOptions
    @Option(help: "Tenants per page (at most 1000).") var pageSize: UInt32 = 100
    @Flag(help: "Follow every page to the end.") var all = false

    func run() async throws {
      let (tenants, more) = try await self.connection.withClient { session in
        var request = Tally_V1_ListTenantsRequest()
        request.pageSize = self.pageSize
        var tenants: [Tally_V1_Tenant] = []
        repeat {
          let page = try await session.client.unary(AdminMethods.listTenants, request, options: session.options)
          tenants += page.tenants
          request.pageToken = page.nextPageToken
        } while self.all && !request.pageToken.isEmpty
        return (tenants, !request.pageToken.isEmpty)
      }
      try Tenants.show(tenants, self.connection.output, list: true)
      // On stderr, so that a script reading stdout still gets exactly the first page.
      if more { Output.printError("more tenants follow: pass --all to list them all") }
    }
  }

  struct Get: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show one tenant.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The tenant's id.") var tenantID: String

    func run() async throws {
      var request = Tally_V1_GetTenantRequest()
      request.tenantID = self.tenantID
      let tenant = try await self.connection.unary(AdminMethods.getTenant, request, sendTenant: false)
      try Tenants.show([tenant], self.connection.output)
    }
  }

  struct Suspend: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Suspend a tenant: its keys are refused from their next call.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The tenant's id.") var tenantID: String

    func run() async throws {
      var request = Tally_V1_SuspendTenantRequest()
      request.tenantID = self.tenantID
      let tenant = try await self.connection.unary(AdminMethods.suspendTenant, request, sendTenant: false)
      try Tenants.show([tenant], self.connection.output)
    }
  }

  struct Resume: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Resume a suspended tenant.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The tenant's id.") var tenantID: String

    func run() async throws {
      var request = Tally_V1_ResumeTenantRequest()
      request.tenantID = self.tenantID
      let tenant = try await self.connection.unary(AdminMethods.resumeTenant, request, sendTenant: false)
      try Tenants.show([tenant], self.connection.output)
    }
  }

  struct Rate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Set a tenant's own call rate; with neither option, it goes back to each server's.",
      discussion: "Each server applies it within 2 s, and counts the tenant's calls on its own.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The tenant's id.") var tenantID: String
    @Option(help: "Calls per second the tenant may start on each server, 0 to 1000000 (0: not limited).")
    var callsPerSecond: UInt32?
    @Option(help: "Calls a quiet tenant may start at once, 1 to 10000000.") var burst: UInt32?

    func run() async throws {
      var request = Tally_V1_SetTenantCallRateRequest()
      request.tenantID = self.tenantID
      if let callsPerSecond = self.callsPerSecond { request.callsPerSecond = callsPerSecond }
      if let burst = self.burst { request.callBurst = burst }
      let tenant = try await self.connection.unary(AdminMethods.setTenantCallRate, request, sendTenant: false)
      try Tenants.show([tenant], self.connection.output)
    }
  }
}
