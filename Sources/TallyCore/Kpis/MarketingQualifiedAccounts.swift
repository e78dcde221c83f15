import TallyStore

/// The marketing-qualified accounts KPI: how many accounts' engagement scores (AccountEngagement)
/// reach the tenant's MQA threshold as of each period's end. One query counts every period, and
/// it sums only the scores: ranking's per-type breakdown and people are not needed for a count.
enum MarketingQualifiedAccounts {
  /// Parameters: $1 date[] the days scored as of, $2 half-life days, $3 window days, $4..$7 the
  /// KPI filters (KpiSQL), $8 weights, $9 tier multipliers, $10 role multipliers (jsonb objects),
  /// $11 the threshold. Rows of (label, qualified), label the index of the day in $1. Each sum
  /// is the one AccountEngagement.sql ranks by, weights and multipliers alike.
  static let sql = """
    WITH ends AS (SELECT as_of, n - 1 AS label FROM unnest($1::date[]) WITH ORDINALITY AS x(as_of, n)),
    bounds AS (SELECT min(as_of) - $3::int AS first, max(as_of) AS last FROM ends),
    weights AS (SELECT key AS type, value::float8 AS weight FROM jsonb_each_text($8::jsonb) WHERE value::float8 > 0),
    tier_multipliers AS (SELECT key::int AS tier, value::float8 AS multiplier FROM jsonb_each_text($9::jsonb)),
    role_multipliers AS (SELECT key AS role, value::float8 AS multiplier FROM jsonb_each_text($10::jsonb)),
    parts AS (
      SELECT x.label, e.account_id, e.events * w.weight * power(0.5, (x.as_of - e.day) / $2::float8) AS score
      FROM event_rollup_daily e JOIN weights w USING (type) JOIN ends x ON \(Self.inWindow("e"))
      WHERE \(Self.inBounds("e")) AND \(KpiSQL.rowFilter("e"))
      UNION ALL
      SELECT x.label, c.account_id, c.events * w.weight * (r.multiplier - 1) * power(0.5, (x.as_of - c.day) / $2::float8)
      FROM contact_rollup_daily c JOIN weights w USING (type) JOIN ends x ON \(Self.inWindow("c"))
        JOIN contacts k ON k.contact_id = c.contact_id
        JOIN role_multipliers r ON r.role = k.role AND r.multiplier <> 1
      WHERE \(Self.inBounds("c")) AND \(KpiSQL.rowFilter("c"))
    ),
    scores AS (SELECT label, account_id, sum(score) AS score FROM parts GROUP BY label, account_id)
    SELECT s.label, count(*) AS qualified
    FROM scores s JOIN accounts a ON a.account_id = s.account_id LEFT JOIN tier_multipliers m ON m.tier = a.tier
    WHERE s.score > 0 AND s.score * coalesce(m.multiplier, 1) >= $11::float8 AND \(KpiSQL.accountFilter("a.account_id"))
    GROUP BY s.label
    """

  /// Rollup rows `alias` of the window before day `x.as_of`.
  private static func inWindow(_ alias: String) -> String {
    "\(alias).day < x.as_of AND \(alias).day >= x.as_of - $3::int"
  }

  /// Rollup rows `alias` of any period's window: a constant day range for the rollup index.
  private static func inBounds(_ alias: String) -> String {
    "\(alias).day < (SELECT last FROM bounds) AND \(alias).day >= (SELECT first FROM bounds)"
  }

  /// The qualified accounts as of each of `days`, in their order.
  static func counts(
    asOf days: [CivilDay], _ filter: KpiFilterSpec, settings: KpiSettings, _ connection: PostgresConnection
  ) throws -> [Int] {
    var parameters: [(any PostgresBindable)?] = ["{" + days.map(\.description).joined(separator: ",") + "}"]
    parameters += [Int64(settings.halfLifeDays), Int64(AccountEngagement.windowDays(settings))] + filter.sqlParameters
    parameters += AccountEngagement.multiplierParameters(settings) + [settings.mqa]
    var counts = Array(repeating: 0, count: days.count)
    for row in try connection.query(Self.sql, parameters).rows {
      counts[try row.require(Int.self, "label")] = try row.require(Int.self, "qualified")
    }
    return counts
  }
}
