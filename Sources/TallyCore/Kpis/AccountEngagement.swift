import Foundation
import TallyProto
import TallyStore
import TallyWire

/// GetAccountEngagement: engagement scores from the daily event rollup, with the tenant's weights,
/// multipliers and half-life. Ages are whole days from an event's UTC day to `as_of`.
enum AccountEngagement {
  static let defaultLimit = 50
  static let maxLimit = 1_000

  /// A request's row limit: 0 means the default; above the maximum is a violation of `limit`.
  static func limit(_ requested: UInt32, _ checker: inout FieldChecker) -> Int {
    if requested > Self.maxLimit {
      checker.add("limit", "must be 1 to \(Self.maxLimit), or 0 for \(Self.defaultLimit); got \(requested)")
    }
    return requested == 0 ? Self.defaultLimit : Int(requested)
  }

  /// The least total that counts as a score: a tier multiplier of 0 zeroes an account, and where a
  /// role multiplier of 0 cancels the rollup's weight the sums' rounding can leave 1e-16, which as a
  /// score above 0 made an account aware, and its health's engagement part all new (100).
  static let leastScore = 1e-9

  /// Scores of the accounts `anchors` lists: a query of (account_id, as_of) rows, one per account,
  /// each account scored as of the start of its own day. Parameters: $1 (for `anchors`), $2
  /// half-life days, $3 window days, $4..$7 the KPI filters (KpiSQL), $8 weights, $9 tier
  /// multipliers, $10 role multipliers (jsonb objects), $11 targets only, $12 limit, then any
  /// `anchors` adds. An event with a contact of a known role counts weight × role multiplier: the
  /// contact's events add weight × (multiplier − 1) on top of the event rollup's weight. The bounds
  /// give the planner a constant day range for the rollup and event indexes. Accounts are ranked on
  /// their total alone; people and the per-type breakdown are made only for the accounts `ranked`
  /// returns (a page of 50 where a tenant has 40,000: making them for all took 3.8 of 4.8 s,
  /// docs/BENCHMARKS.md). `by_type` and `people` are MATERIALIZED: the planner underestimates them
  /// (CTE and row-level security), and once chose to recompute `people` for every row of the join,
  /// 11× slower.
  static func sql(anchors: String, totalsOnly: Bool = false) -> String {
    """
    WITH anchors AS (\(anchors)),
    bounds AS (SELECT min(as_of) - $3::int AS first, max(as_of) AS last FROM anchors),
    \(Self.settingsTables),
    parts AS (
      SELECT e.account_id, e.type, x.as_of - e.day AS age, e.events::float8 AS events, e.events * w.weight AS minutes
      FROM event_rollup_daily e JOIN weights w USING (type) JOIN anchors x ON x.account_id = e.account_id
      WHERE \(Self.inWindow("e")) AND \(KpiSQL.rowFilter("e"))
      UNION ALL
      SELECT c.account_id, c.type, x.as_of - c.day, 0, c.events * w.weight * (r.multiplier - 1)
      FROM \(Self.peopleInBounds) c JOIN weights w USING (type) JOIN anchors x ON x.account_id = c.account_id
        JOIN contacts k ON k.contact_id = c.contact_id
        JOIN role_multipliers r ON r.role = k.role AND r.multiplier <> 1
      WHERE \(Self.inWindow("c")) AND \(KpiSQL.rowFilter("c")) AND \(Self.someRoleCounts)
    ),
    by_type AS MATERIALIZED (
      SELECT account_id, type, sum(events) AS events, sum(minutes * power(0.5, age / $2::float8)) AS score,
        sum(minutes) AS minutes, sum(minutes) FILTER (WHERE age <= 7) AS last_week,
        sum(minutes) FILTER (WHERE age > 7 AND age <= 35) AS weeks_before
      FROM parts GROUP BY account_id, type
    ),
    ranked AS MATERIALIZED (
      SELECT a.account_id, a.name, a.tier, coalesce(m.multiplier, 1) AS multiplier,
        s.score * coalesce(m.multiplier, 1) AS total
      FROM (SELECT account_id, sum(score) AS score FROM by_type GROUP BY account_id) s
        JOIN accounts a ON a.account_id = s.account_id
        LEFT JOIN tier_multipliers m ON m.tier = a.tier
      WHERE s.score * coalesce(m.multiplier, 1) > \(Self.leastScore) AND \(KpiSQL.accountFilter("a.account_id"))
        AND (NOT $11::boolean OR a.tier > 0)
      \(totalsOnly ? "" : "ORDER BY total DESC, a.account_id")
      LIMIT $12::int
    ),
    people AS MATERIALIZED (
      SELECT c.account_id, count(DISTINCT c.contact_id) AS people
      FROM \(Self.peopleInBounds) c JOIN weights w USING (type) JOIN anchors x ON x.account_id = c.account_id
      WHERE c.account_id IN (SELECT account_id FROM ranked) AND \(Self.inWindow("c")) AND \(KpiSQL.rowFilter("c"))
      GROUP BY c.account_id
    )
    \(totalsOnly ? "SELECT account_id, total FROM ranked" : Self.page)
    """
  }

  /// The ranked accounts with their people and per-type breakdown, highest first.
  private static let page = """
    SELECT r.account_id, r.name, r.tier, r.multiplier, coalesce(p.people, 0) AS people,
      jsonb_agg(jsonb_build_array(t.type, t.events, t.score, t.minutes, coalesce(t.last_week, 0),
        coalesce(t.weeks_before, 0))) AS types, r.total
    FROM ranked r JOIN by_type t ON t.account_id = r.account_id LEFT JOIN people p ON p.account_id = r.account_id
    GROUP BY r.account_id, r.name, r.tier, r.multiplier, r.total, p.people
    ORDER BY r.total DESC, r.account_id
    """

  /// The score settings ($8 to $10, `multiplierParameters`) as the CTEs `weights` (types of a
  /// weight above 0), `tier_multipliers` and `role_multipliers`.
  static let settingsTables = """
    weights AS (SELECT key AS type, value::float8 AS weight FROM jsonb_each_text($8::jsonb) WHERE value::float8 > 0),
    tier_multipliers AS (SELECT key::int AS tier, value::float8 AS multiplier FROM jsonb_each_text($9::jsonb)),
    role_multipliers AS (SELECT key AS role, value::float8 AS multiplier FROM jsonb_each_text($10::jsonb))
    """

  /// True when some role's multiplier is not 1: the contact rows' extra score needs reading at all.
  /// An uncorrelated EXISTS, so PostgreSQL tests it once and skips the branch (with the default
  /// settings it joined a million contact rows to contacts to find nothing, docs/BENCHMARKS.md).
  static let someRoleCounts = "EXISTS (SELECT 1 FROM role_multipliers WHERE multiplier <> 1)"

  /// Rollup rows `alias` of the window before their account's anchor day.
  private static func inWindow(_ alias: String) -> String {
    "\(alias).day < x.as_of AND \(alias).day >= x.as_of - $3::int AND \(Self.inBounds(alias))"
  }

  /// Rollup rows `alias` between the CTE `bounds`' first and last day: a constant day range for
  /// the rollup indexes.
  static func inBounds(_ alias: String) -> String {
    "\(alias).day < (SELECT last FROM bounds) AND \(alias).day >= (SELECT first FROM bounds)"
  }

  /// The events with a contact between the CTE `bounds`' first and last day (KpiSQL.people).
  static let peopleInBounds = KpiSQL.people(from: "(SELECT first FROM bounds)", to: "(SELECT last FROM bounds)")

  /// Every account scored as of one day ($1).
  static let sameDay = "SELECT account_id, $1::date AS as_of FROM accounts"

  static func rank(
    _ request: Tally_V1_GetAccountEngagementRequest, settings: KpiSettings, today: CivilDay,
    _ connection: PostgresConnection
  ) throws -> Tally_V1_GetAccountEngagementResponse {
    var limit = Self.defaultLimit
    let (asOf, filter) = try Self.validate(request.asOf, request.filter, today: today) {
      limit = Self.limit(request.limit, &$0)
    }
    var response = Tally_V1_GetAccountEngagementResponse()
    response.asOf = asOf.description
    response.windowDays = UInt32(Self.windowDays(settings))
    response.mqaThreshold = settings.mqa
    response.accounts = try Self.scores(
      asOf: asOf, filter, targetsOnly: request.targetsOnly,
      limit: limit, settings: settings, connection)
    try Journey.setStages(&response.accounts, asOf: asOf, settings, connection)
    return response
  }

  /// The `as_of` and filter of a request about accounts as of a day, validated together with
  /// `more` checks of its other fields.
  static func validate(
    _ asOfText: String, _ filterMessage: Tally_V1_KpiFilter, today: CivilDay,
    more: (inout FieldChecker) -> Void = { _ in }
  ) throws -> (CivilDay, KpiFilterSpec) {
    var checker = FieldChecker()
    let asOf = Self.asOf(asOfText, today: today, &checker)
    let filter = KpiFilterSpec(filterMessage, &checker)
    more(&checker)
    try checker.check()
    guard let asOf else { throw RPCError(code: .internalError, message: "as_of missing after validation") }
    return (asOf, filter)
  }

  /// `as_of` of a request: empty means tomorrow, so that today's events count.
  static func asOf(_ text: String, today: CivilDay, _ checker: inout FieldChecker) -> CivilDay? {
    text.isEmpty ? CivilDay(dayNumber: today.dayNumber + 1) : KpiPeriods.day(text, "as_of", &checker)
  }

  /// Days of events a score reads: 8 half-lives (older events add under 0.4 % of their weight), at
  /// least the 35 days the spike compares (a short half-life), at most a year.
  static func windowDays(_ settings: KpiSettings) -> Int { min(max(8 * settings.halfLifeDays, 35), 365) }

  /// Every account with a score above 0 as of one day, highest first; at most `limit` (nil: all).
  static func scores(
    asOf: CivilDay, _ filter: KpiFilterSpec, targetsOnly: Bool, limit: Int?, settings: KpiSettings,
    _ connection: PostgresConnection
  ) throws -> [Tally_V1_AccountEngagement] {
    try Self.scores(
      anchors: Self.sameDay, [asOf.description], filter, targetsOnly: targetsOnly, limit: limit, settings: settings,
      connection)
  }

  /// The score of every account of `anchors` (see `sql(anchors:)`) above 0, as `scores` gives it
  /// but unsorted and without people or the per-type breakdown, which the journey, health and
  /// influence do not read (making them for 40,000 accounts took most of those calls,
  /// docs/BENCHMARKS.md).
  static func totals(
    anchors: String = Self.sameDay, _ anchorParameters: [(any PostgresBindable)?], _ filter: KpiFilterSpec,
    targetsOnly: Bool, settings: KpiSettings, _ connection: PostgresConnection
  ) throws -> [ExactID: Double] {
    let parameters = Self.parameters(anchorParameters, filter, targetsOnly: targetsOnly, limit: nil, settings)
    let rows = try connection.query(Self.sql(anchors: anchors, totalsOnly: true), parameters).rows
    // By bytes, as PostgreSQL groups them: "señor" and "sen" + U+0303 + "or" are two accounts (as
    // String keys they were one, and `uniqueKeysWithValues` stopped the server).
    return Dictionary(
      uniqueKeysWithValues: try rows.map {
        (ExactID(try $0.require(String.self, "account_id")), try $0.require(Double.self, "total"))
      })
  }

  /// The parameters of `sql(anchors:)`: `anchorParameters` are $1 and then $13 onwards.
  private static func parameters(
    _ anchorParameters: [(any PostgresBindable)?], _ filter: KpiFilterSpec, targetsOnly: Bool, limit: Int?,
    _ settings: KpiSettings
  ) -> [(any PostgresBindable)?] {
    var parameters: [(any PostgresBindable)?] = Array(anchorParameters.prefix(1))
    parameters += [Int64(settings.halfLifeDays), Int64(Self.windowDays(settings))] + filter.sqlParameters
    parameters += Self.multiplierParameters(settings) + [targetsOnly, limit.map(Int64.init)]
    return parameters + anchorParameters.dropFirst()
  }

  /// The accounts of `anchors` (see `sql(anchors:)`) with a score above 0, highest first.
  /// `anchorParameters` are $1 and then $13 onwards.
  static func scores(
    anchors: String, _ anchorParameters: [(any PostgresBindable)?], _ filter: KpiFilterSpec, targetsOnly: Bool,
    limit: Int?, settings: KpiSettings, _ connection: PostgresConnection
  ) throws -> [Tally_V1_AccountEngagement] {
    let parameters = Self.parameters(anchorParameters, filter, targetsOnly: targetsOnly, limit: limit, settings)
    let rows = try connection.query(Self.sql(anchors: anchors), parameters).rows
    return try rows.map { row in
      let multiplier = try row.require(Double.self, "multiplier")
      var account = Tally_V1_AccountEngagement()
      account.accountID = try row.require(String.self, "account_id")
      account.name = try row.require(String.self, "name")
      account.tier = UInt32(try row.require(Int.self, "tier"))
      account.peopleEngaged = UInt64(try row.require(Int.self, "people"))
      let types =
        try JSONSerialization.jsonObject(with: Data(try row.require(String.self, "types").utf8)) as? [[Any]] ?? []
      var lastWeek = 0.0
      var weeksBefore = 0.0
      var contributions: [Tally_V1_EngagementContribution] = []
      for entry in types where entry.count == 6 {
        let number = { (index: Int) in (entry[index] as? NSNumber)?.doubleValue ?? 0 }
        account.score += number(2) * multiplier
        account.engagementMinutes += number(3) * multiplier
        lastWeek += number(4) * multiplier
        weeksBefore += number(5) * multiplier
        var contribution = Tally_V1_EngagementContribution()
        contribution.type = entry[0] as? String ?? ""
        contribution.events = UInt64(number(1))
        contribution.score = number(2) * multiplier
        contributions.append(contribution)
      }
      // A role multiplier of 0 cancels minutes in floating point, leaving some 1e-16 behind: no
      // event type that scores nothing is a top event, and no such residue divides a spike.
      account.topEvents = Array(
        contributions.filter { abs($0.score) > Self.leastScore }
          .sorted { ($0.score, $1.type) > ($1.score, $0.type) }.prefix(5))
      account.minutesLastWeek = abs(lastWeek) > Self.leastScore ? lastWeek : 0
      if weeksBefore > Self.leastScore { account.spike = account.minutesLastWeek / (weeksBefore / 4) }
      account.marketingQualified = account.score >= settings.mqa
      return account
    }
  }

  /// The parameters $8 to $10 of a score: the weights per event type and the tier and role
  /// multipliers, as jsonb objects.
  static func multiplierParameters(_ settings: KpiSettings) -> [(any PostgresBindable)?] {
    let weights = Dictionary(uniqueKeysWithValues: EventRecord.types.map { ($0, settings.weight($0)) })
    let tiers = Dictionary(uniqueKeysWithValues: (0...3).map { ("\($0)", settings.tierMultipliers["\($0)"] ?? 1) })
    let roles = Dictionary(uniqueKeysWithValues: ContactRecord.roles.map { ($0, settings.roleMultipliers[$0] ?? 1) })
    return [Self.json(weights), Self.json(tiers), Self.json(roles)]
  }

  static func json(_ values: [String: Double]) -> String {
    let data = (try? JSONSerialization.data(withJSONObject: values, options: [.sortedKeys])) ?? Data("{}".utf8)
    return String(decoding: data, as: UTF8.self)
  }
}
