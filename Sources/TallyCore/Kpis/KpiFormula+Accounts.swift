/// The KPIs over accounts and their customer history rather than events.
extension KpiFormula {
  enum AccountMeasure: Sendable {
    /// (Customers at the end − new customers in the period) / customers at the start: the customers
    /// from the start through the end over those at the start.
    case logoRetention
    /// ARR at the end of the customers at the start (0 when churned) / their ARR at the start; an
    /// account whose ARR was never known is left out of both.
    case netRevenueRetention
    /// Target accounts with at least the tenant's `min_contacts` contacts and a decision maker / target accounts.
    case coverage
    /// Contacts of target accounts / target accounts.
    case contactsPerTarget
    /// Filled required fields (industry, size, revenue, owner, tier) of target accounts / 5 × targets.
    case dataCompleteness
    /// Σ amount × 12 / contract months (12 when unknown) of won deals / won deals; times the accounts
    /// on the ideal-customer list (in_icp or a target tier) when `timesICP`.
    case annualContractValue(timesICP: Bool)
  }

  static func accountSQL(_ measure: AccountMeasure, _ kpi: KpiSQL) -> String? {
    switch measure {
    case .logoRetention:
      return """
        WITH \(KpiSQL.periods)
        SELECT p.label,
          (SELECT count(*) FILTER (WHERE \(Self.customerThroughout(Self.start, Self.endSoFar)))
           FROM accounts a WHERE \(Self.accountScope)) AS num,
          (SELECT count(*) FILTER (WHERE \(Self.customer(at: Self.start))) FROM accounts a WHERE \(Self.accountScope)) AS den
        FROM periods p
        """
    case .netRevenueRetention:
      return """
        WITH \(KpiSQL.periods)
        SELECT p.label,
          (SELECT coalesce(sum(CASE WHEN \(Self.customerThroughout(Self.start, Self.endSoFar)) THEN \(Self.arr(at: Self.endSoFar)) ELSE 0 END), 0)
           FROM accounts a WHERE \(Self.customer(at: Self.start)) AND \(Self.arr(at: Self.start)) IS NOT NULL
             AND \(Self.accountScope)) AS num,
          (SELECT coalesce(sum(\(Self.arr(at: Self.start))), 0)
           FROM accounts a WHERE \(Self.customer(at: Self.start)) AND \(Self.accountScope)) AS den
        FROM periods p
        """
    case .coverage, .contactsPerTarget, .dataCompleteness:
      return nil  // TargetAccountFacts
    case .annualContractValue(let timesICP):
      let icp =
        timesICP
        ? " * (SELECT count(*) FROM accounts a WHERE (a.in_icp OR a.tier > 0) AND \(KpiSQL.accountFilter("a.account_id")))"
        : ""
      return """
        WITH \(KpiSQL.periods)
        SELECT p.label, coalesce(sum(o.amount * 12.0 / coalesce(o.contract_months, 12)), 0)\(icp) AS num,
          count(o.opportunity_id) AS den
        FROM periods p LEFT JOIN opportunities o ON o.status = 'won' AND \(KpiSQL.inPeriod("o.closed_at"))
          AND \(KpiSQL.accountFilter("o.account_id")) AND \(KpiSQL.campaignTargetFilter("o.account_id"))
        GROUP BY p.label
        """
    }
  }

  static let start = "(p.p_from::timestamp AT TIME ZONE 'UTC')"
  static let end = "(p.p_to::timestamp AT TIME ZONE 'UTC')"
  /// The period's end, or now for a period not yet over: a churn entered ahead of its date (a
  /// cancellation for the contract's end) has not happened yet.
  static let endSoFar = "least(\(end), now())"
  /// The account, tier and campaign filters on an `accounts a` row.
  static let accountScope = "\(KpiSQL.accountFilter("a.account_id")) AND \(KpiSQL.campaignTargetFilter("a.account_id"))"

  /// SQL true when account `a` was a customer just before `time`, in its current tenure or a past
  /// one: periods are [from, to), so a customer since 00:00 of the first day is new in the period,
  /// not also one at its start, and a churn at `to` falls in the next period. A customer through
  /// the one instant `time`.
  static func customer(at time: String) -> String { Self.customerThroughout(time, time) }

  /// SQL true when account `a` was a customer from just before `start` through `end` in one tenure:
  /// a customer who left and came back in between was lost and won again.
  static func customerThroughout(_ start: String, _ end: String) -> String {
    """
    CASE WHEN a.past_tenures IS NULL
      THEN coalesce(a.customer_since < \(start) AND (a.churned_at IS NULL OR a.churned_at >= \(end)), false)
      ELSE \(Self.tenures) @> tstzrange(\(start), \(end), '[]') END
    """
  }

  /// Account `a`'s tenures as (customer_since, churned_at] intervals: the past ones (migration
  /// 0023) and the current one. A win-back at the instant of the churn joins the two.
  static let tenures = """
    (a.past_tenures + CASE WHEN a.customer_since IS NULL THEN '{}'::tstzmultirange
      ELSE tstzmultirange(tstzrange(a.customer_since, a.churned_at, '(]')) END)
    """

  /// An account's last known ARR before `time` from its history; its first known ARR when none is
  /// known before; NULL when none ever was. A row without ARR (an upsert that left it out) is
  /// unknown, not 0: read as 0 it was a churn of the account's whole ARR.
  static func arr(at time: String) -> String {
    """
    (SELECT h.arr FROM account_history h WHERE h.account_id = a.account_id AND h.arr IS NOT NULL
      ORDER BY h.changed_at < \(time) DESC, CASE WHEN h.changed_at < \(time) THEN h.changed_at END DESC, h.changed_at
      LIMIT 1)
    """
  }
}
