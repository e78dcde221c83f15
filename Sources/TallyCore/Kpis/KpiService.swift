import Foundation
import TallyProto
public import TallyStore
import TallyWire

/// `tally.v1.KpiService`: the KPI catalogue over the call tenant's data (docs/KPIS.md).
public struct KpiService: Sendable {
  let database: TenantDatabase

  public init(pool: PostgresPool) { self.database = TenantDatabase(pool: pool) }

  public func register(into router: inout Router) {
    router.unary(KpiMethods.listKpis, access: .tenantRead, self.listKpis)
    router.unary(KpiMethods.getKpis, access: .tenantRead, self.getKpis)
    router.unary(KpiMethods.getSettings, access: .tenantRead) { _, context in
      try await self.analytics(context) { try Self.settingsMessage($0.connection) }
    }
    router.unary(KpiMethods.updateSettings, access: .tenantWrite, self.updateSettings)
    router.unary(KpiMethods.getContentEngagement, access: .tenantRead) { request, context in
      try await self.analytics(context) { try ContentEngagement.assets(request, $0.connection) }
    }
    router.unary(KpiMethods.getRepActivity, access: .tenantRead) { request, context in
      try await self.analytics(context) { try RepActivity.reps(request, today: CivilDay(Date()), $0.connection) }
    }
    self.read(KpiMethods.getJourney, &router) { try Journey.journey($0, settings: $1.settings, today: $1.today, $2) }
    self.read(KpiMethods.getCoverage, &router) { try Coverage.coverage($0, settings: $1.settings, $2) }
    self.read(KpiMethods.getInfluence, &router) {
      try Influence.influence($0, settings: $1.settings, currency: $1.currency, $2)
    }
    self.read(KpiMethods.getAttribution, &router) {
      try Attribution.attribution($0, settings: $1.settings, currency: $1.currency, $2)
    }
    self.read(KpiMethods.getAccountHealth, &router) {
      try AccountHealthScore.health($0, settings: $1.settings, today: $1.today, $2)
    }
    self.read(KpiMethods.getAccountEngagement, &router) {
      try AccountEngagement.rank($0, settings: $1.settings, today: $1.today, $2)
    }
  }

  /// What the read methods answer from besides the request: the tenant's settings and currency,
  /// and today's UTC day.
  struct Reading {
    let settings: KpiSettings
    let currency: String
    let today: CivilDay
  }

  /// A KPI read's transaction: read-only over one snapshot, so that every statement of a call sees
  /// the same rows (SnapshotReads can then run them on two connections), with a custom plan for
  /// every statement: the KPI queries' optional filters (`$4 IS NULL OR …`) make the generic plan
  /// PostgreSQL switches a prepared statement to after five runs far slower (a 4,000-account
  /// dashboard: 13 to 20 s against 7 s). No merge joins: the target accounts per period, which the
  /// planner underestimates, made it sort a quarter's rollup rows on disk to merge-join them (the
  /// largest of 1,000 tenants' dashboard: 10.4 to 8.8 s, a 5,000-account one 1.73 to 1.43 s, the
  /// same answers; docs/BENCHMARKS.md). No JIT: compiling the net revenue retention query, whose
  /// per-account subqueries the planner costs high, took 0.4 of its 0.6 s on a 40,000-account tenant.
  private func analytics<T: Sendable>(
    _ context: RequestContext, _ body: @escaping @Sendable (SnapshotReads) throws -> T
  ) async throws -> T {
    try await self.database.snapshotRead(context, settings: Self.analyticsSettings, body)
  }

  private static let analyticsSettings = [
    ("plan_cache_mode", "force_custom_plan"), ("enable_mergejoin", "off"), ("jit", "off"),
  ]

  /// A read method answered in one transaction, with the tenant's settings read in it.
  private func read<Request, Response>(
    _ method: MethodDescriptor<Request, Response>, _ router: inout Router,
    _ answer: @escaping @Sendable (Request, Reading, PostgresConnection) throws -> Response
  ) {
    router.unary(method, access: .tenantRead) { request, context in
      try await self.analytics(context) { reads in
        let (settings, currency, _) = try Self.settings(reads.connection)
        let reading = Reading(settings: settings, currency: currency, today: CivilDay(Date()))
        return try answer(request, reading, reads.connection)
      }
    }
  }

  @Sendable func listKpis(_ request: Tally_V1_ListKpisRequest, _ context: RequestContext) async throws
    -> Tally_V1_ListKpisResponse
  {
    if !request.family.isEmpty {
      var checker = FieldChecker()
      checker.oneOf(request.family, "family", KpiCatalog.families)
      try checker.check()
    }
    // The catalogue is the same for every tenant, but the call still needs a tenant of its own.
    _ = try TenantDatabase.tenant(of: context)
    var response = Tally_V1_ListKpisResponse()
    response.kpis = KpiCatalog.all.filter { request.family.isEmpty || $0.family == request.family }.map(\.message)
    return response
  }

  @Sendable func getKpis(_ request: Tally_V1_GetKpisRequest, _ context: RequestContext) async throws
    -> Tally_V1_GetKpisResponse
  {
    let (kpis, leftOut, periods, filter) = try Self.validate(request)
    return try await self.analytics(context) { reads in
      let (settings, currency, _) = try Self.settings(reads.connection)
      var response = Tally_V1_GetKpisResponse()
      response.from = periods.current.from.description
      response.to = periods.current.to.description
      response.previousFrom = periods.previous.from.description
      response.previousTo = periods.previous.to.description
      response.currency = currency
      response.leftOut = leftOut
      let measures = try KpiEngine.measureBegun(
        kpis, periods.all, today: CivilDay(Date()), filter, settings: settings, reads)
      response.kpis = zip(kpis, measures).map { KpiEngine.value($0, periods, $1) }
      return response
    }
  }

  /// The KPIs, periods and filter of a request, every problem named by its field. A dashboard's
  /// KPIs that cannot take the filter are left out (and listed), so that a filtered dashboard
  /// shows what can be filtered; a KPI named that cannot take it is refused.
  static func validate(_ request: Tally_V1_GetKpisRequest) throws -> (
    kpis: [Kpi], leftOut: [Tally_V1_KpiLeftOut], periods: KpiPeriods, filter: KpiFilterSpec
  ) {
    var checker = FieldChecker()
    var names = request.names
    let isDashboard = names.isEmpty
    if names.isEmpty {
      let dashboard = request.dashboard.isEmpty ? "default" : request.dashboard
      if let listed = KpiCatalog.dashboards[dashboard] {
        names = listed
      } else {
        checker.oneOf(dashboard, "dashboard", KpiCatalog.dashboards.keys.sorted())
      }
    } else if !request.dashboard.isEmpty {
      checker.add("dashboard", "must be empty when names are given")
    }
    if names.count > KpiCatalog.all.count {
      checker.add("names", "must list at most \(KpiCatalog.all.count) KPIs, got \(names.count)")
    }
    var kpis: [Kpi] = []
    for (index, name) in names.enumerated() {
      if let kpi = KpiCatalog.byName[name] {
        if !kpis.contains(where: { $0.name == name }) { kpis.append(kpi) }
      } else {
        checker.add("names[\(index)]", "\"\(name.prefix(60))\" is not a KPI; ListKpis lists them")
      }
    }
    let periods = KpiPeriods.parse(from: request.from, to: request.to, bucket: request.bucket, &checker)
    let filter = KpiFilterSpec(request.filter, &checker)
    var leftOut: [Tally_V1_KpiLeftOut] = []
    for kpi in kpis where !filter.applies(to: kpi.formula) {
      let reason =
        kpi.formula.acceptsCampaignFilters
        ? "by account or tier: costs are not per account" : "at all: survey answers have no campaign or account filter"
      if isDashboard {
        var entry = Tally_V1_KpiLeftOut()
        (entry.name, entry.reason) = (kpi.name, "cannot be filtered \(reason)")
        leftOut.append(entry)
      } else {
        checker.add("filter", "\(kpi.name) cannot be filtered \(reason)")
      }
    }
    try checker.check()
    guard let periods else { throw RPCError(code: .internalError, message: "periods missing after validation") }
    return (kpis.filter { kpi in !leftOut.contains { $0.name == kpi.name } }, leftOut, periods, filter)
  }

  @Sendable func updateSettings(_ request: Tally_V1_UpdateKpiSettingsRequest, _ context: RequestContext) async throws
    -> Tally_V1_KpiSettings
  {
    var checker = FieldChecker()
    let settings = KpiSettings(request.settings, &checker)
    try checker.check()
    return try await self.database.transaction(context) { connection in
      try connection.query(
        """
        INSERT INTO kpi_settings (tenant_id, settings) VALUES (\(currentTenantSQL), $1::jsonb)
        ON CONFLICT (tenant_id) DO UPDATE SET settings = excluded.settings, updated_at = now()
        """, [settings.json])
      return try Self.settingsMessage(connection)
    }
  }

  /// The effective settings as GetSettings and UpdateSettings answer them.
  static func settingsMessage(_ connection: PostgresConnection) throws -> Tally_V1_KpiSettings {
    let (settings, currency, updatedAt) = try Self.settings(connection)
    var message = settings.message(currency: currency)
    if let updatedAt { message.updatedAt = Micros.timestamp(updatedAt) }
    return message
  }

  /// The tenant's settings (defaults when it never changed any), its currency, and when they changed.
  static func settings(_ connection: PostgresConnection) throws -> (KpiSettings, String, Int64?) {
    let row = try connection.query(
      """
      SELECT t.currency::text AS currency, s.settings::text AS settings, \(Micros.column("s.updated_at"))
      FROM tenants t LEFT JOIN kpi_settings s ON s.tenant_id = t.tenant_id
      """
    ).rows.first
    guard let row else { throw RPCError(code: .notFound, message: "the call's tenant does not exist") }
    let settings = try row.decode(String.self, "settings").map { try KpiSettings(json: $0) } ?? KpiSettings()
    return (settings, try row.require(String.self, "currency"), try row.decode(Int64.self, "updated_at"))
  }
}
