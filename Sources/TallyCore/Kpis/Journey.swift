import TallyProto
import TallyStore
import TallyWire

/// GetJourney: each account in its deepest stage, as of a day.
enum Journey {
  /// In order; an account is in the deepest one it qualifies for.
  static let stages = ["unaware", "aware", "engaged", "mqa", "opportunity", "customer"]

  /// Midnight UTC of `as_of`, whatever the session's time zone.
  static let asOfTime = "($1::date::timestamp AT TIME ZONE 'UTC')"

  /// Per account in scope: whether it is a customer, and whether it has a live opportunity (created
  /// before `as_of` and not lost before it). Parameters: $1 as_of, $2 targets only, $3 the window
  /// (the CTA query's: both share one parameter list), $4..$7 the KPI filters (campaign filters keep
  /// the accounts of those campaigns' target lists, as in GetKpis).
  static let accountsSQL = """
    SELECT \(Self.stateColumns)
    FROM accounts a
    WHERE \(KpiSQL.accountFilter("a.account_id")) AND \(KpiSQL.campaignTargetFilter("a.account_id"))
      AND (NOT $2::boolean OR a.tier > 0) AND $3::int > 0
    """

  /// SQL true when account `a` is a customer as of $1, in its current tenure or a past one.
  static let isCustomer = KpiFormula.customer(at: Self.asOfTime)

  /// Account `a`'s id, and whether it is a customer and has a live opportunity as of $1.
  static let stateColumns = """
    a.account_id, \(Self.isCustomer) AS customer,
    EXISTS (SELECT 1 FROM opportunities o WHERE o.account_id = a.account_id AND o.created_at < \(Self.asOfTime)
      AND NOT (o.status = 'lost' AND o.closed_at < \(Self.asOfTime))) AS opportunity
    """

  /// The index in `stages` of the deepest stage an account qualifies for.
  static func stage(customer: Bool, opportunity: Bool, score: Double, _ settings: KpiSettings) -> Int {
    if customer { return 5 }
    if opportunity { return 4 }
    return score >= settings.mqa ? 3 : score >= settings.engaged ? 2 : score > 0 ? 1 : 0
  }

  /// Sets the stage of each scored account as of `asOf`.
  static func setStages(
    _ accounts: inout [Tally_V1_AccountEngagement], asOf: CivilDay, _ settings: KpiSettings,
    _ connection: PostgresConnection
  ) throws {
    let rows = try connection.query(
      "SELECT \(Self.stateColumns) FROM accounts a WHERE a.account_id = ANY($2::text[])",
      [asOf.description, PostgresArray.literal(accounts.map(\.accountID))]
    ).rows
    var states: [ExactID: (customer: Bool, opportunity: Bool)] = [:]
    for row in rows {
      states[ExactID(try row.require(String.self, "account_id"))] = (
        try row.require(Bool.self, "customer"), try row.require(Bool.self, "opportunity")
      )
    }
    for index in accounts.indices {
      let state = states[ExactID(accounts[index].accountID)] ?? (false, false)
      let stage = Self.stage(
        customer: state.customer, opportunity: state.opportunity, score: accounts[index].score, settings)
      accounts[index].stage = Self.stages[stage]
    }
  }

  /// cta_view and cta_converted per asset in the window; the same parameters. With a campaign
  /// filter, of the accounts the stages count: those of the campaigns' target lists.
  static let ctaSQL = """
    SELECT e.asset_id, coalesce(sum(e.events) FILTER (WHERE e.type = 'cta_view'), 0) AS views,
      coalesce(sum(e.events) FILTER (WHERE e.type = 'cta_converted'), 0) AS conversions
    FROM event_rollup_daily e
    WHERE e.day < $1::date AND e.day >= $1::date - $3::int AND e.type IN ('cta_view', 'cta_converted')
      AND e.asset_id <> '' AND \(KpiSQL.rowFilter("e")) AND \(KpiSQL.campaignTargetFilter("e.account_id"))
      AND (NOT $2::boolean OR e.account_id IN (SELECT account_id FROM accounts WHERE tier > 0))
    GROUP BY e.asset_id
    ORDER BY views DESC, e.asset_id
    LIMIT \(KpiEngine.maxListed)
    """

  static func journey(
    _ request: Tally_V1_GetJourneyRequest, settings: KpiSettings, today: CivilDay, _ connection: PostgresConnection
  ) throws -> Tally_V1_GetJourneyResponse {
    let (asOf, filter) = try AccountEngagement.validate(request.asOf, request.filter, today: today)
    let score = try AccountEngagement.totals(
      [asOf.description], filter, targetsOnly: request.targetsOnly, settings: settings, connection)
    let window = Int64(AccountEngagement.windowDays(settings))
    let parameters = [asOf.description, request.targetsOnly, window] + filter.sqlParameters
    var counts = Array(repeating: 0, count: Self.stages.count)
    for row in try connection.query(Self.accountsSQL, parameters).rows {
      let stage = Self.stage(
        customer: try row.require(Bool.self, "customer"), opportunity: try row.require(Bool.self, "opportunity"),
        score: score[ExactID(try row.require(String.self, "account_id"))] ?? 0, settings)
      counts[stage] += 1
    }
    var response = Tally_V1_GetJourneyResponse()
    response.asOf = asOf.description
    response.windowDays = UInt32(AccountEngagement.windowDays(settings))
    response.engagedThreshold = settings.engaged
    response.mqaThreshold = settings.mqa
    let reached = counts.indices.map { counts[$0...].reduce(0, +) }
    response.stages = Self.stages.indices.map { index in
      var stage = Tally_V1_JourneyStage()
      stage.stage = Self.stages[index]
      stage.accounts = UInt64(counts[index])
      stage.reached = UInt64(reached[index])
      if index + 1 < reached.count, reached[index] > 0 {
        stage.conversionToNext = Double(reached[index + 1]) / Double(reached[index])
      }
      return stage
    }
    response.ctas = try connection.query(Self.ctaSQL, parameters).rows.map { row in
      var cta = Tally_V1_CtaConversion()
      cta.assetID = try row.require(String.self, "asset_id")
      cta.views = UInt64(try row.require(Int.self, "views"))
      cta.conversions = UInt64(try row.require(Int.self, "conversions"))
      if cta.views > 0 { cta.rate = Double(cta.conversions) / Double(cta.views) }
      return cta
    }
    return response
  }
}
