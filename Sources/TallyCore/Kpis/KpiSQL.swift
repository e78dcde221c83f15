/// The SQL pieces every KPI query shares. Parameters, the same for every query:
/// $1 int[] period labels, $2 date[] period starts, $3 date[] period ends (exclusive),
/// $4 text[] campaign ids, $5 text[] channels, $6 int[] tiers, $7 text[] account ids (NULL = no filter).
struct KpiSQL: Sendable {
  /// Where event counts come from: the daily rollups, or the raw events grouped the same way.
  enum Source: Sendable { case rollups, rawEvents }

  let source: Source
  /// The tenant's settings the SQL text holds: validated numbers, safe in SQL text.
  var settings = KpiSettings()
  var minContacts: Int { self.settings.coverageMinContacts }

  /// Rows of (day, type, account_id, campaign_id, asset_id, events, seconds, value).
  var events: String {
    switch self.source {
    case .rollups: return "event_rollup_daily"
    case .rawEvents:
      return """
        (SELECT (occurred_at AT TIME ZONE 'UTC')::date AS day, type, coalesce(account_id, '') AS account_id,
          coalesce(campaign_id, '') AS campaign_id, coalesce(asset_id, '') AS asset_id, 1 AS events,
          coalesce(duration_seconds, 0) AS seconds, coalesce(value, 0) AS value FROM events)
        """
    }
  }

  /// Rows of (day, type, contact_id, account_id, campaign_id, events) between the periods' first
  /// and last day: one per event with a contact, whatever the source (migration 0009).
  var people: String {
    Self.people(from: Self.firstDay, to: Self.lastDay)
  }

  /// The events with a contact between the days `from` and `to` (SQL date expressions; `to`
  /// excluded), as rows of (day, type, contact_id, account_id, campaign_id, events = 1). The days
  /// are bounds on `occurred_at`, so the events' time index (which INCLUDEs these columns) reads
  /// only those days' partitions and entries. A missing account or campaign stays NULL: like the
  /// event rollup's empty string, it matches no filter and no join.
  static func people(from: String, to: String) -> String {
    """
    (SELECT (occurred_at AT TIME ZONE 'UTC')::date AS day, type, contact_id, account_id, campaign_id, 1 AS events
      FROM events WHERE contact_id IS NOT NULL AND \(Self.time("occurred_at", from: from, to: to)))
    """
  }

  static let periods = """
    periods AS (SELECT * FROM unnest($1::int[], $2::date[], $3::date[]) AS p(label, p_from, p_to))
    """

  /// Campaigns the campaign and channel filters keep (SQL true when there is no such filter); a
  /// query with other parameters names their places.
  static func campaignFilter(_ column: String, campaigns: String = "$4", channels: String = "$5") -> String {
    """
    (\(campaigns)::text[] IS NULL OR \(column) = ANY(\(campaigns)::text[]))
    AND (\(channels)::text[] IS NULL
      OR \(column) IN (SELECT campaign_id FROM campaigns WHERE channel = ANY(\(channels)::text[])))
    """
  }

  /// Accounts the tier and account filters keep; a query with other parameters names their places.
  static func accountFilter(_ column: String, tiers: String = "$6", accounts: String = "$7") -> String {
    """
    (\(tiers)::int[] IS NULL OR \(column) IN (SELECT account_id FROM accounts WHERE tier = ANY(\(tiers)::int[])))
    AND (\(accounts)::text[] IS NULL OR \(column) = ANY(\(accounts)::text[]))
    """
  }

  /// Rows `alias` of period `p` that pass every filter. For the rollups the days between the first
  /// period's start and the last one's end are said again as a constant range for their indexes:
  /// the join to `periods` alone left the planner a scan of every tenant's rows (4 s of the largest
  /// of 1,000 tenants' dashboard, docs/BENCHMARKS.md); migration 0007's functions give those days
  /// as dates the planner sees. A source that bounds its days itself (`people`, on `occurred_at`)
  /// gets no such range: on its computed `day` it cost the estimate 200× (PostgreSQL's 0.5 % for a
  /// range on an expression), and before autovacuum the planner nested-looped the 15 rows it
  /// expected, where 20,658 came, with the targets: 5 s, not 85 ms (docs/BENCHMARKS.md, session 19).
  static func periodRows(_ alias: String, sourceBoundsDays: Bool = false) -> String {
    let days = sourceBoundsDays ? "" : " AND \(alias).day >= \(Self.firstDay)\n  AND \(alias).day < \(Self.lastDay)"
    return "\(alias).day >= p.p_from AND \(alias).day < p.p_to\(days) AND \(Self.rowFilter(alias))"
  }

  /// Every filter, on a row with campaign_id and account_id columns.
  static func rowFilter(_ alias: String) -> String {
    Self.campaignFilter("\(alias).campaign_id") + " AND " + Self.accountFilter("\(alias).account_id")
  }

  /// Accounts of the filtered campaigns' target lists (true without a campaign or channel filter).
  static func campaignTargetFilter(_ column: String) -> String {
    """
    (($4::text[] IS NULL AND $5::text[] IS NULL) OR \(column) IN (
      SELECT ct.account_id FROM campaign_targets ct WHERE \(Self.campaignFilter("ct.campaign_id"))))
    """
  }

  /// Target accounts per period: tier 1 to 3 at any time in it. An account's first known state
  /// holds for all time before it, so a CRM imported today still answers for last quarter.
  /// MATERIALIZED: a query that reads it once would otherwise inline it, and the planner, which
  /// underestimates it, then recomputed it for every deal of influenced accounts (1.3 s of a
  /// 4,000-account dashboard, docs/BENCHMARKS.md).
  static let targets = Self.targets(materialized: true)

  /// `targets` for a pass that joins it once to the periods' rows: inlined, the planner has
  /// account_history's statistics and hashes the targets. Materialized, it has none for the CTE's
  /// columns and hashed the rows instead, 742,182 of them against 40,000 targets on the 10M set's
  /// largest tenant, and the event-type pass took 1.3 s instead of 0.95 s (docs/BENCHMARKS.md).
  static let targetsJoinedOnce = Self.targets(materialized: false)

  private static func targets(materialized: Bool) -> String {
    """
    targets AS \(materialized ? "" : "NOT ")MATERIALIZED (
      SELECT DISTINCT p.label, h.account_id
      FROM periods p
      JOIN (
        SELECT account_id, tier,
          CASE WHEN lag(changed_at) OVER w IS NULL THEN '-infinity'::timestamptz ELSE changed_at END AS since,
          lead(changed_at) OVER w AS until
        FROM account_history WINDOW w AS (PARTITION BY account_id ORDER BY changed_at)
      ) h ON h.tier > 0 AND h.since < (p.p_to::timestamp AT TIME ZONE 'UTC')
        AND (h.until IS NULL OR h.until > (p.p_from::timestamp AT TIME ZONE 'UTC'))
      WHERE \(Self.accountFilter("h.account_id")) AND \(Self.campaignTargetFilter("h.account_id"))
    )
    """
  }

  /// The statement's end for KPIs counted over each period's target accounts `t` (the `targets`
  /// CTE) with `joins` matching them to sets of accounts found by one scan: the `num` and `den`
  /// aggregates per period, 0 for a period without targets. A hash join of the sets with the
  /// targets; an EXISTS probe per target and period took twice as long for program reach on a
  /// 40,000-account tenant, and a correlated count per period was nested-looped by the planner,
  /// which underestimates the targets (docs/BENCHMARKS.md, session 16).
  static func perTarget(num: String, den: String, joins: String) -> String {
    """
    per_target AS (SELECT t.label, \(num) AS num, \(den) AS den FROM targets t \(joins) GROUP BY t.label)
    SELECT p.label, coalesce(x.num, 0) AS num, coalesce(x.den, 0) AS den
    FROM periods p LEFT JOIN per_target x ON x.label = p.label
    """
  }

  /// A timestamptz column inside period `p`.
  static func inPeriod(_ column: String) -> String {
    Self.time(column, from: "p.p_from", to: "p.p_to")
  }

  /// A timestamptz column from the start of UTC day `from` to before the start of UTC day `to`
  /// (SQL date expressions): a range an index on the column can use.
  static func time(_ column: String, from: String, to: String) -> String {
    "\(column) >= ((\(from))::timestamp AT TIME ZONE 'UTC') AND \(column) < ((\(to))::timestamp AT TIME ZONE 'UTC')"
  }

  /// The first start and the last end of the call's periods (migration 0007): dates the planner
  /// folds into constants.
  static let firstDay = "period_first_day($2::date[])"
  static let lastDay = "period_last_day($3::date[])"

  /// An event `alias` inside period `p`. The periods' first start and last end bound `occurred_at`
  /// as constants too: the period join alone gave the planner no range, and it read every
  /// tenant's events of every month (the rep activity KPI, docs/BENCHMARKS.md).
  static func eventInPeriod(_ alias: String) -> String {
    """
    \(Self.inPeriod("\(alias).occurred_at"))
      AND \(Self.time("\(alias).occurred_at", from: Self.firstDay, to: Self.lastDay))
    """
  }

  /// A list of event types as a SQL list: the types are the server's own constants, never input.
  static func list(_ types: [String]) -> String {
    "(" + types.map { "'\($0)'" }.joined(separator: ", ") + ")"
  }
}
