import TallyStore

/// The marketing-qualified accounts KPI: how many accounts' engagement scores (AccountEngagement)
/// reach the tenant's MQA threshold as of each period's end. One query counts every period, and
/// it sums only the scores: ranking's per-type breakdown and people are not needed for a count.
enum MarketingQualifiedAccounts {
  /// Parameters: $1 date[] the `count` days scored as of, $2 half-life days, $3 window days,
  /// $4..$7 the KPI filters (KpiSQL), $8 weights, $9 tier multipliers, $10 role multipliers (jsonb
  /// objects), $11 the threshold. One row of n0, n1...: the qualified accounts as of each day.
  /// Each sum is the one AccountEngagement.sql ranks by, weights and multipliers alike; every
  /// day's score is a column of one pass grouped by account, so overlapping windows read their
  /// rows once and nothing is sorted by period.
  static func sql(days count: Int) -> String {
    let days = (0..<count).map { "($1::date[])[\($0 + 1)]" }
    func decayed(_ alias: String, _ minutes: String) -> String {
      days.enumerated().map { index, day in
        """
        sum(\(minutes) * power(0.5, (\(day) - \(alias).day) / $2::float8))
          FILTER (WHERE \(alias).day < \(day) AND \(alias).day >= \(day) - $3::int) AS s\(index)
        """
      }.joined(separator: ",\n")
    }
    let sums = (0..<count).map { "sum(s\($0)) AS s\($0)" }.joined(separator: ", ")
    let counts = (0..<count).map {
      "count(*) FILTER (WHERE s.s\($0) > 0 AND s.s\($0) * coalesce(m.multiplier, 1) >= $11::float8) AS n\($0)"
    }
    return """
      WITH bounds AS (SELECT min(d) - $3::int AS first, max(d) AS last FROM unnest($1::date[]) AS d),
      \(AccountEngagement.settingsTables),
      parts AS (
        SELECT e.account_id, \(decayed("e", "e.events * w.weight"))
        FROM event_rollup_daily e JOIN weights w USING (type)
        WHERE \(AccountEngagement.inBounds("e")) AND \(KpiSQL.rowFilter("e"))
        GROUP BY e.account_id
        UNION ALL
        SELECT c.account_id, \(decayed("c", "c.events * w.weight * (r.multiplier - 1)"))
        FROM \(AccountEngagement.peopleInBounds) c JOIN weights w USING (type) JOIN contacts k ON k.contact_id = c.contact_id
          JOIN role_multipliers r ON r.role = k.role AND r.multiplier <> 1
        WHERE \(AccountEngagement.inBounds("c")) AND \(KpiSQL.rowFilter("c")) AND \(AccountEngagement.someRoleCounts)
        GROUP BY c.account_id
      ),
      scores AS (SELECT account_id, \(sums) FROM parts GROUP BY account_id)
      SELECT \(counts.joined(separator: ", "))
      FROM scores s JOIN accounts a ON a.account_id = s.account_id LEFT JOIN tier_multipliers m ON m.tier = a.tier
      WHERE \(KpiSQL.accountFilter("a.account_id"))
      """
  }

  /// The qualified accounts as of each of `days`, in their order.
  static func counts(
    asOf days: [CivilDay], _ filter: KpiFilterSpec, settings: KpiSettings, _ connection: PostgresConnection
  ) throws -> [Int] {
    var parameters: [(any PostgresBindable)?] = ["{" + days.map(\.description).joined(separator: ",") + "}"]
    parameters += [Int64(settings.halfLifeDays), Int64(AccountEngagement.windowDays(settings))] + filter.sqlParameters
    parameters += AccountEngagement.multiplierParameters(settings) + [settings.mqa]
    guard !days.isEmpty else { return [] }
    let row = try connection.query(Self.sql(days: days.count), parameters).rows.first
    return try days.indices.map { try row?.decode(Int.self, "n\($0)") ?? 0 }
  }
}
