/// The KPIs that follow campaign touches into deals, and the sales-side ones around them.
extension KpiFormula {
  static func revenueSQL(_ formula: KpiFormula, _ kpi: KpiSQL) -> String {
    let start = Self.start
    let end = Self.end
    switch formula {
    case .influencedPipeline(let share):
      return """
        WITH \(KpiSQL.periods)
        SELECT p.label, coalesce(sum(o.amount) FILTER (WHERE EXISTS (SELECT 1 \(Self.touches(kpi)))), 0) AS num,
          \(share ? "coalesce(sum(o.amount), 0)" : "NULL::numeric") AS den
        FROM periods p LEFT JOIN opportunities o ON \(KpiSQL.inPeriod("o.created_at"))
          AND \(KpiSQL.accountFilter("o.account_id"))
        GROUP BY p.label
        """
    case .influencedAccounts:
      // The TAM holds the period's targets too, so that the share cannot pass 1: the ICP accounts
      // now, plus each period's targets that are neither now, counted in one pass for all periods.
      // (An EXISTS under OR was a probe per account: 283 to 591 ms against 17 to 36 for this on
      // 40,000 accounts and five periods; Benchmarks/sql/influenced-tam.sql.)
      return """
        WITH \(KpiSQL.periods), \(KpiSQL.targets),
        gone AS (
          SELECT g.label, count(*) AS n FROM targets g JOIN accounts a ON a.account_id = g.account_id
          WHERE NOT (a.in_icp OR a.tier > 0) GROUP BY g.label
        )
        SELECT p.label,
          (SELECT count(DISTINCT o.account_id) FROM opportunities o
            JOIN targets g ON g.label = p.label AND g.account_id = o.account_id
            WHERE \(KpiSQL.inPeriod("o.created_at")) AND EXISTS (SELECT 1 \(Self.touches(kpi)))) AS num,
          (SELECT count(*) FROM accounts a WHERE (a.in_icp OR a.tier > 0) AND \(KpiSQL.accountFilter("a.account_id")))
            + coalesce((SELECT n FROM gone WHERE gone.label = p.label), 0) AS den
        FROM periods p
        """
    case .attributedRevenue(let roi):
      // Linear: each won deal's amount × the share of its touches that the campaign filter keeps.
      let attributed = """
        SELECT p.label, coalesce(sum(o.amount * x.kept / x.total) FILTER (WHERE x.total > 0), 0) AS num,
          NULL::numeric AS den
        FROM periods p
          LEFT JOIN opportunities o ON o.status = 'won' AND \(KpiSQL.inPeriod("o.closed_at"))
            AND \(KpiSQL.accountFilter("o.account_id"))
          LEFT JOIN LATERAL (
            SELECT sum(t.events)::float8 AS total,
              coalesce(sum(t.events) FILTER (WHERE \(KpiSQL.campaignFilter("t.campaign_id"))), 0)::float8 AS kept
            \(Self.touches(kpi, filtered: false))
          ) x ON true
        GROUP BY p.label
        """
      guard roi else { return "WITH \(KpiSQL.periods)\n\(attributed)" }
      return """
        WITH \(KpiSQL.periods), attributed AS (\(attributed))
        SELECT p.label, r.num - c.cost AS num, c.cost AS den
        FROM periods p JOIN attributed r ON r.label = p.label
          CROSS JOIN LATERAL (
            SELECT coalesce(sum(k.amount), 0) AS cost FROM costs k
            WHERE k.cost_date >= p.p_from AND k.cost_date < p.p_to AND k.category NOT IN ('onboarding', 'support')
              AND (($4::text[] IS NULL AND $5::text[] IS NULL) OR \(KpiSQL.campaignFilter("k.campaign_id")))
          ) c
        """
    case .pipelineVelocity:
      let won = "o.status = 'won' AND \(KpiSQL.inPeriod("o.closed_at"))"
      return """
        WITH \(KpiSQL.periods)
        SELECT p.label, CASE WHEN w.won > 0 THEN w.open * w.amount / (w.won + w.lost) ELSE 0 END AS num,
          CASE WHEN w.won > 0 THEN w.days / w.won ELSE 0 END AS den
        FROM periods p CROSS JOIN LATERAL (
          SELECT count(*) FILTER (WHERE o.created_at < \(end) AND (o.status = 'open' OR o.closed_at >= \(end)))::float8 AS open,
            count(*) FILTER (WHERE \(won))::float8 AS won,
            count(*) FILTER (WHERE o.status = 'lost' AND \(KpiSQL.inPeriod("o.closed_at")))::float8 AS lost,
            coalesce(sum(o.amount) FILTER (WHERE \(won)), 0)::float8 AS amount,
            coalesce(sum(extract(epoch FROM o.closed_at - o.created_at) / 86400) FILTER (WHERE \(won)), 0)::float8 AS days
          FROM opportunities o
          WHERE \(KpiSQL.accountFilter("o.account_id")) AND \(KpiSQL.campaignTargetFilter("o.account_id"))
        ) w
        """
    case .customerLifetimeValue:
      // Lifetime = 1 / annual churn = customers at the start × days / (churned × 365), at most 10
      // years; the days are those begun, as churn in a period not yet over can only have happened so far.
      return """
        WITH \(KpiSQL.periods)
        SELECT p.label,
          CASE WHEN c.customers > 0 THEN w.acv * \(kpi.settings.grossMargin) * CASE WHEN c.churned = 0 THEN 10
            ELSE least(10, c.customers::float8 * greatest(1, least(p.p_to, (now() AT TIME ZONE 'UTC')::date + 1) - p.p_from)
              / (c.churned * 365.0)) END ELSE 0 END AS num,
          CASE WHEN c.customers > 0 THEN w.won ELSE 0 END AS den
        FROM periods p
          CROSS JOIN LATERAL (
            SELECT coalesce(sum(o.amount * 12.0 / coalesce(o.contract_months, 12)), 0) AS acv, count(*) AS won
            FROM opportunities o WHERE o.status = 'won' AND \(KpiSQL.inPeriod("o.closed_at"))
              AND \(KpiSQL.accountFilter("o.account_id")) AND \(KpiSQL.campaignTargetFilter("o.account_id"))
          ) w
          CROSS JOIN LATERAL (
            SELECT count(*) FILTER (WHERE \(Self.customer(at: start))) AS customers,
              count(*) FILTER (WHERE \(Self.customer(at: start)) AND NOT \(Self.customerThroughout(start, Self.endSoFar))) AS churned
            FROM accounts a WHERE \(Self.accountScope)
          ) c
        """
    case .acceptedAccountsPer1000:
      return Self.targetsWithOpportunity(at: "o.accepted_at", num: "1000 * count(o.account_id)")
    case .activitiesPerRep:
      // Working days that have begun: a period not yet over has had no activity on its later days.
      return """
        WITH \(KpiSQL.periods)
        SELECT p.label, count(e.rep_id) AS num,
          count(DISTINCT e.rep_id) * (SELECT count(*) FROM generate_series(p.p_from,
            least(p.p_to, (now() AT TIME ZONE 'UTC')::date + 1) - 1, interval '1 day') d
            WHERE extract(isodow FROM d) < 6) AS den
        FROM periods p LEFT JOIN events e ON \(KpiSQL.eventInPeriod("e")) AND e.rep_id IS NOT NULL
          AND e.type IN \(KpiSQL.list(Self.repActivityTypes)) AND \(KpiSQL.rowFilter("e"))
        GROUP BY p.label, p.p_from, p.p_to
        """
    default:
      preconditionFailure("\(formula) is not a revenue KPI")
    }
  }

  /// A per-target KPI over deals: each period's target accounts matched to the accounts with an
  /// opportunity whose `column` falls in the period, by a hash join. An EXISTS per target was
  /// nested-looped over the period's opportunities: 60 ms where this takes 8 ms, on the largest
  /// tenant of `make bench` (docs/BENCHMARKS.md, session 20).
  static func targetsWithOpportunity(at column: String, num: String) -> String {
    """
    WITH \(KpiSQL.periods), \(KpiSQL.targets),
    opened AS MATERIALIZED (
      SELECT DISTINCT p.label, o.account_id FROM periods p JOIN opportunities o ON \(KpiSQL.inPeriod(column))
    ),
    \(KpiSQL.perTarget(
      num: num, den: "count(*)", joins: "LEFT JOIN opened o ON o.label = t.label AND o.account_id = t.account_id"))
    """
  }

  /// Dials, sales emails and completed tasks: a rep's activities.
  static let repActivityTypes = ["call_dialed", "sales_email", "task_completed"]

  /// `FROM … WHERE …` of the touches of opportunity `o`: engagement events of its account with a
  /// campaign (one the filter keeps, when `filtered`), from the look-back before its creation day
  /// up to that day.
  static func touches(_ kpi: KpiSQL, filtered: Bool = true) -> String {
    """
    FROM \(kpi.events) t WHERE t.account_id = o.account_id AND t.campaign_id <> ''
      AND t.type IN \(KpiSQL.list(Self.engagementTypes))
      AND t.day <= (o.created_at AT TIME ZONE 'UTC')::date
      AND t.day >= (o.created_at AT TIME ZONE 'UTC')::date - \(kpi.settings.lookbackDays)
      \(filtered ? "AND " + KpiSQL.campaignFilter("t.campaign_id") : "")
    """
  }
}
