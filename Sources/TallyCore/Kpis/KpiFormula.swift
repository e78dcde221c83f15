/// How a KPI's numerator and denominator are computed, as one SQL query that answers every
/// period of a call at once: rows of (label, num, den), den NULL for counts and sums.
enum KpiFormula: Sendable {
  /// Σ events of some types over Σ events of others (ad clicks / ad impressions).
  case eventRatio(numerator: [String], denominator: [String])
  /// Σ events of some types; `targetsOnly` keeps the events of target accounts.
  case eventCount([String], targetsOnly: Bool)
  /// Σ duration of some types, in minutes.
  case minutes([String])
  /// Distinct contacts with an event of some types, over a base of distinct contacts.
  case people(numerator: [String], base: PeopleBase)
  /// Target accounts with at least one engagement event / target accounts.
  case engagedTargetAccounts
  /// Target accounts with an opportunity created in the period / target accounts.
  case targetAccountsWithOpportunity
  case opportunities(OpportunityMeasure)
  /// Marketing and sales cost (plus onboarding and support when fully loaded) / new customers won.
  case acquisitionCost(fullyLoaded: Bool)
  /// (Customers at the end − new customers still customers at the end) / customers at the start.
  case logoRetention
  /// ARR at the end of the customers at the start (0 when churned) / their ARR at the start.
  case netRevenueRetention
  /// Target accounts with at least the tenant's `min_contacts` contacts and a decision maker / target accounts.
  case coveredTargetAccounts
  /// Contacts of target accounts / target accounts.
  case contactsPerTargetAccount
  /// Filled required fields (industry, size, revenue, owner, tier) of target accounts / 5 × targets.
  case dataCompleteness
  /// Σ amount × 12 / contract months (12 when unknown) of won deals / won deals; times the accounts
  /// on the ideal-customer list (in_icp or a target tier) when `timesICP`.
  case annualContractValue(timesICP: Bool)

  enum PeopleBase: Sendable {
    /// A count, no denominator.
    case none
    /// Distinct contacts sent an email minus distinct contacts bounced.
    case delivered
    case types([String])
  }

  enum OpportunityMeasure: Sendable {
    case createdCount, createdAmount, wonAmount, expansionAmount, winRate, averageDealSize, salesCycleDays
  }

  /// Event types that show an account engaging (not impressions, sends or sales-side work).
  static let engagementTypes = [
    "email_opened", "email_clicked", "email_replied", "ad_click", "web_visit", "content_view", "content_download",
    "content_share", "form_submitted", "cta_converted", "event_registered", "event_attended", "social_engagement",
    "meeting_scheduled", "meeting_held",
  ]

  /// Whether account and tier filters mean anything for this KPI (costs are not per account).
  var acceptsAccountFilters: Bool {
    if case .acquisitionCost = self { return false }
    return true
  }

  func sql(_ kpi: KpiSQL) -> String {
    let list = KpiSQL.list
    let from = "FROM periods p LEFT JOIN"
    let eventsIn = "e.day >= p.p_from AND e.day < p.p_to AND \(KpiSQL.rowFilter("e"))"
    switch self {
    case .eventRatio(let numerator, let denominator):
      return """
        WITH \(KpiSQL.periods)
        SELECT p.label, coalesce(sum(e.events) FILTER (WHERE e.type IN \(list(numerator))), 0) AS num,
          coalesce(sum(e.events) FILTER (WHERE e.type IN \(list(denominator))), 0) AS den
        \(from) \(kpi.events) e ON \(eventsIn) AND e.type IN \(list(numerator + denominator))
        GROUP BY p.label
        """
    case .eventCount(let types, let targetsOnly):
      let targets = targetsOnly ? "JOIN targets t ON t.label = p.label AND t.account_id = e.account_id" : ""
      return """
        WITH \(KpiSQL.periods), \(KpiSQL.targets)
        SELECT p.label, (SELECT coalesce(sum(e.events), 0) FROM \(kpi.events) e \(targets)
          WHERE \(eventsIn) AND e.type IN \(list(types))) AS num, NULL::numeric AS den
        FROM periods p
        """
    case .minutes(let types):
      return """
        WITH \(KpiSQL.periods)
        SELECT p.label, coalesce(sum(e.seconds), 0) / 60.0 AS num, NULL::numeric AS den
        \(from) \(kpi.events) e ON \(eventsIn) AND e.type IN \(list(types))
        GROUP BY p.label
        """
    case .people(let numerator, let base):
      let (types, den): ([String], String)
      switch base {
      case .none: (types, den) = (numerator, "NULL::numeric")
      case .types(let baseTypes):
        (types, den) = (
          numerator + baseTypes, "count(DISTINCT c.contact_id) FILTER (WHERE c.type IN \(list(baseTypes)))"
        )
      case .delivered:
        (types, den) = (
          numerator + ["email_sent", "email_bounced"],
          """
          greatest(count(DISTINCT c.contact_id) FILTER (WHERE c.type = 'email_sent')
            - count(DISTINCT c.contact_id) FILTER (WHERE c.type = 'email_bounced'), 0)
          """
        )
      }
      return """
        WITH \(KpiSQL.periods)
        SELECT p.label, count(DISTINCT c.contact_id) FILTER (WHERE c.type IN \(list(numerator))) AS num, \(den) AS den
        \(from) \(kpi.people) c ON c.day >= p.p_from AND c.day < p.p_to AND \(KpiSQL.rowFilter("c"))
          AND c.type IN \(list(Array(Set(types)).sorted()))
        GROUP BY p.label
        """
    case .engagedTargetAccounts:
      return """
        WITH \(KpiSQL.periods), \(KpiSQL.targets)
        SELECT p.label,
          (SELECT count(DISTINCT e.account_id) FROM \(kpi.events) e
            JOIN targets t ON t.label = p.label AND t.account_id = e.account_id
            WHERE \(eventsIn) AND e.type IN \(list(Self.engagementTypes))) AS num,
          (SELECT count(*) FROM targets t WHERE t.label = p.label) AS den
        FROM periods p
        """
    case .targetAccountsWithOpportunity:
      return """
        WITH \(KpiSQL.periods), \(KpiSQL.targets)
        SELECT p.label,
          (SELECT count(DISTINCT o.account_id) FROM opportunities o
            JOIN targets t ON t.label = p.label AND t.account_id = o.account_id
            WHERE \(KpiSQL.inPeriod("o.created_at"))) AS num,
          (SELECT count(*) FROM targets t WHERE t.label = p.label) AS den
        FROM periods p
        """
    case .opportunities(let measure):
      return Self.opportunitySQL(measure)
    case .logoRetention:
      let customer = { (time: String) in
        "a.customer_since <= \(time) AND (a.churned_at IS NULL OR a.churned_at > \(time))"
      }
      return """
        WITH \(KpiSQL.periods)
        SELECT p.label,
          (SELECT count(*) FILTER (WHERE \(customer(Self.end))) - count(*) FILTER (WHERE \(customer(Self.end))
            AND a.customer_since >= \(Self.start))
           FROM accounts a WHERE \(Self.accountScope)) AS num,
          (SELECT count(*) FILTER (WHERE \(customer(Self.start))) FROM accounts a WHERE \(Self.accountScope)) AS den
        FROM periods p
        """
    case .netRevenueRetention:
      let customer = { (time: String) in
        "a.customer_since <= \(time) AND (a.churned_at IS NULL OR a.churned_at > \(time))"
      }
      return """
        WITH \(KpiSQL.periods)
        SELECT p.label,
          (SELECT coalesce(sum(CASE WHEN \(customer(Self.end)) THEN \(Self.arr(at: Self.end)) ELSE 0 END), 0)
           FROM accounts a WHERE \(customer(Self.start)) AND \(Self.accountScope)) AS num,
          (SELECT coalesce(sum(\(Self.arr(at: Self.start))), 0)
           FROM accounts a WHERE \(customer(Self.start)) AND \(Self.accountScope)) AS den
        FROM periods p
        """
    case .coveredTargetAccounts:
      return Self.targetAccountSQL(
        """
        count(*) FILTER (WHERE (SELECT count(*) FROM contacts c WHERE c.account_id = a.account_id) >= \(kpi.minContacts)
          AND EXISTS (SELECT 1 FROM contacts c WHERE c.account_id = a.account_id AND c.role = 'decision_maker'))
        """, "count(*)")
    case .contactsPerTargetAccount:
      return Self.targetAccountSQL(
        "coalesce(sum((SELECT count(*) FROM contacts c WHERE c.account_id = a.account_id)), 0)", "count(*)")
    case .dataCompleteness:
      return Self.targetAccountSQL(
        """
        coalesce(sum((a.industry IS NOT NULL)::int + (a.employee_count IS NOT NULL)::int
          + (a.annual_revenue IS NOT NULL)::int + (a.owner IS NOT NULL)::int + (a.tier > 0)::int), 0)
        """, "5 * count(*)")
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
    case .acquisitionCost(let fullyLoaded):
      let categories =
        ["media", "content", "tools", "people", "other"] + (fullyLoaded ? ["onboarding", "support"] : [])
      return """
        WITH \(KpiSQL.periods)
        SELECT p.label,
          (SELECT coalesce(sum(k.amount), 0) FROM costs k
            WHERE k.cost_date >= p.p_from AND k.cost_date < p.p_to AND k.category IN \(list(categories))
              AND (($4::text[] IS NULL AND $5::text[] IS NULL) OR \(KpiSQL.campaignFilter("k.campaign_id")))) AS num,
          (SELECT count(DISTINCT o.account_id) FROM opportunities o
            WHERE o.status = 'won' AND o.type = 'new_business' AND \(KpiSQL.inPeriod("o.closed_at"))
              AND \(KpiSQL.campaignTargetFilter("o.account_id"))
              -- Refused with account filters (costs are not per account); named so every parameter has a type.
              AND \(KpiSQL.accountFilter("o.account_id"))) AS den
        FROM periods p
        """
    }
  }

  static let start = "(p.p_from::timestamp AT TIME ZONE 'UTC')"
  static let end = "(p.p_to::timestamp AT TIME ZONE 'UTC')"
  /// The account, tier and campaign filters on an `accounts a` row.
  static let accountScope = "\(KpiSQL.accountFilter("a.account_id")) AND \(KpiSQL.campaignTargetFilter("a.account_id"))"

  /// An account's ARR at `time` from its history; its first known ARR before its history starts.
  static func arr(at time: String) -> String {
    """
    coalesce((SELECT h.arr FROM account_history h WHERE h.account_id = a.account_id
      ORDER BY h.changed_at <= \(time) DESC, CASE WHEN h.changed_at <= \(time) THEN h.changed_at END DESC, h.changed_at
      LIMIT 1), 0)
    """
  }

  /// Target-account KPIs read the accounts and contacts as they are now (contacts keep no history).
  private static func targetAccountSQL(_ numerator: String, _ denominator: String) -> String {
    """
    WITH \(KpiSQL.periods), \(KpiSQL.targets)
    SELECT p.label,
      (SELECT \(numerator) FROM targets t JOIN accounts a ON a.account_id = t.account_id WHERE t.label = p.label) AS num,
      (SELECT \(denominator) FROM targets t WHERE t.label = p.label) AS den
    FROM periods p
    """
  }

  private static func opportunitySQL(_ measure: OpportunityMeasure) -> String {
    let won = "o.status = 'won' AND \(KpiSQL.inPeriod("o.closed_at"))"
    let (num, den, join): (String, String, String)
    switch measure {
    case .createdCount: (num, den, join) = ("count(o.opportunity_id)", "NULL::numeric", KpiSQL.inPeriod("o.created_at"))
    case .createdAmount:
      (num, den, join) = ("coalesce(sum(o.amount), 0)", "NULL::numeric", KpiSQL.inPeriod("o.created_at"))
    case .wonAmount: (num, den, join) = ("coalesce(sum(o.amount), 0)", "NULL::numeric", won)
    case .expansionAmount:
      (num, den, join) = ("coalesce(sum(o.amount), 0)", "NULL::numeric", won + " AND o.type = 'expansion'")
    case .winRate:
      (num, den, join) = (
        "count(o.opportunity_id) FILTER (WHERE o.status = 'won')", "count(o.opportunity_id)",
        "o.status IN ('won', 'lost') AND \(KpiSQL.inPeriod("o.closed_at"))"
      )
    case .averageDealSize: (num, den, join) = ("coalesce(sum(o.amount), 0)", "count(o.opportunity_id)", won)
    case .salesCycleDays:
      (num, den, join) = (
        "coalesce(sum(extract(epoch FROM o.closed_at - o.created_at) / 86400), 0)", "count(o.opportunity_id)", won
      )
    }
    return """
      WITH \(KpiSQL.periods)
      SELECT p.label, \(num) AS num, \(den) AS den
      FROM periods p LEFT JOIN opportunities o ON \(join) AND \(KpiSQL.accountFilter("o.account_id"))
        AND \(KpiSQL.campaignTargetFilter("o.account_id"))
      GROUP BY p.label
      """
  }
}
