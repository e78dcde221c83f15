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
  /// Distinct contacts of target accounts with an event of some types.
  case targetPeople([String])
  /// Distinct accounts with an event of some types.
  case accountsWith([String])
  /// Conversions / engagement events, over the events of known accounts.
  case conversionRate
  /// Target accounts with at least one engagement event / target accounts.
  case engagedTargetAccounts
  /// Target accounts with an opportunity created in the period / target accounts.
  case targetAccountsWithOpportunity
  case opportunities(OpportunityMeasure)
  /// Marketing and sales cost (plus onboarding and support when fully loaded) / new customers won.
  case acquisitionCost(fullyLoaded: Bool)
  /// Target accounts in the programs' target lists with a success from a program that targets them
  /// / target accounts in those lists.
  case programReach
  /// Successes of target accounts / all successes of campaign events.
  case programFocus
  /// KPIs over accounts, contacts and won deals rather than events.
  case accounts(AccountMeasure)
  /// Opportunities created whose account had a campaign touch in the look-back before; over all
  /// opportunities created when `share`.
  case influencedPipeline(share: Bool)
  /// Target accounts with an influenced opportunity created / accounts on the ideal-customer list.
  case influencedAccounts
  /// Won amount credited to campaigns by the linear model; minus cost, over cost, when `roi`.
  case attributedRevenue(roi: Bool)
  /// Open opportunities × won amount / closed deals, over the mean sales cycle of the won.
  case pipelineVelocity
  /// Average ACV × gross margin × expected lifetime (1 / annual logo churn, at most 10 years).
  case customerLifetimeValue
  /// 1,000 × target accounts with an opportunity accepted by sales / target accounts.
  case acceptedAccountsPer1000
  /// Rep activities (dials, sales emails, tasks) / (reps × working days); reads the raw events,
  /// which alone keep the rep.
  case activitiesPerRep
  /// Accounts whose engagement score at the period's end reaches the MQA threshold: counted by
  /// MarketingQualifiedAccounts, whose query takes the scoring settings as parameters of its own.
  case marketingQualifiedAccounts
  /// NPS of the surveys of one kind (nps, enps): 100 × (promoters − detractors) / responses of the
  /// rounds opened in the period; an anonymous round counts only once closed and at its threshold.
  case surveyScore(kind: String)

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

  /// Hand-raisers: the engagement events that convert.
  static let conversionTypes = ["form_submitted", "cta_converted", "meeting_scheduled"]

  /// What counts as a program's success: attended, clicked, replied, submitted.
  static let successTypes = ["event_attended", "email_clicked", "ad_click", "email_replied", "form_submitted"]

  /// Whether account and tier filters mean anything for this KPI (costs are not per account).
  var acceptsAccountFilters: Bool {
    switch self {
    case .acquisitionCost, .surveyScore, .attributedRevenue(roi: true): return false
    default: return true
    }
  }

  /// Whether campaign and channel filters mean anything for this KPI (surveys have no campaign).
  var acceptsCampaignFilters: Bool {
    if case .surveyScore = self { return false }
    return true
  }

  /// The query; nil for the KPIs a shared pass answers (KpiEngine.passes) and for
  /// marketing-qualified accounts (MarketingQualifiedAccounts).
  func sql(_ kpi: KpiSQL) -> String? {
    let list = KpiSQL.list
    let from = "FROM periods p LEFT JOIN"
    let eventsIn = KpiSQL.periodRows("e")
    switch self {
    case .accountsWith(let types):
      return """
        WITH \(KpiSQL.periods)
        SELECT p.label, count(DISTINCT e.account_id) AS num, NULL::numeric AS den
        \(from) \(kpi.events) e ON \(eventsIn) AND e.type IN \(list(types)) AND e.account_id <> ''
        GROUP BY p.label
        """
    case .engagedTargetAccounts:
      return """
        WITH \(KpiSQL.periods), \(KpiSQL.targets),
        engaged AS MATERIALIZED (
          SELECT DISTINCT p.label, e.account_id
          FROM periods p JOIN \(kpi.events) e ON \(eventsIn) AND e.type IN \(list(Self.engagementTypes))
        ),
        \(KpiSQL.perTarget(
          num: "count(g.account_id)", den: "count(*)",
          joins: "LEFT JOIN engaged g ON g.label = t.label AND g.account_id = t.account_id"))
        """
    case .targetAccountsWithOpportunity:
      return Self.targetsWithOpportunity(at: "o.created_at", num: "count(o.account_id)")
    case .opportunities(let measure):
      return Self.opportunitySQL(measure)
    case .programReach:
      return """
        WITH \(KpiSQL.periods), \(KpiSQL.targets),
        reached AS MATERIALIZED (
          SELECT DISTINCT p.label, e.account_id
          FROM periods p JOIN \(kpi.events) e ON \(eventsIn) AND e.type IN \(list(Self.successTypes))
            JOIN campaign_targets ct ON ct.campaign_id = e.campaign_id AND ct.account_id = e.account_id
        ),
        programmed AS MATERIALIZED (
          SELECT DISTINCT ct.account_id FROM campaign_targets ct WHERE \(KpiSQL.campaignFilter("ct.campaign_id"))
        ),
        \(KpiSQL.perTarget(
          num: "count(r.account_id)", den: "count(g.account_id)",
          joins: """
            LEFT JOIN reached r ON r.label = t.label AND r.account_id = t.account_id
              LEFT JOIN programmed g ON g.account_id = t.account_id
            """))
        """
    case .accounts(let measure):
      return Self.accountSQL(measure, kpi)
    case .influencedPipeline, .influencedAccounts, .attributedRevenue, .pipelineVelocity, .customerLifetimeValue,
      .acceptedAccountsPer1000, .activitiesPerRep:
      return Self.revenueSQL(self, kpi)
    case .eventRatio, .eventCount, .minutes, .people, .targetPeople, .conversionRate, .programFocus,
      .marketingQualifiedAccounts:
      return nil
    case .surveyScore(let kind):
      return """
        WITH \(KpiSQL.periods),
        rounds AS (
          SELECT r.opens_at, s.anonymous, s.anonymity_threshold, r.closes_at IS NOT NULL AND r.closes_at <= now() AS closed,
            count(x.score) AS responses, count(*) FILTER (WHERE x.score >= 9) AS promoters,
            count(*) FILTER (WHERE x.score <= 6) AS detractors
          FROM survey_rounds r JOIN surveys s ON s.survey_id = r.survey_id
            LEFT JOIN survey_responses x ON x.round_id = r.round_id AND x.score IS NOT NULL
          WHERE s.kind = '\(kind)'
          GROUP BY r.round_id, r.opens_at, r.closes_at, s.anonymous, s.anonymity_threshold
        )
        SELECT p.label, 100 * coalesce(sum(k.promoters - k.detractors), 0) AS num, coalesce(sum(k.responses), 0) AS den,
          coalesce(sum(k.promoters), 0)::float8 AS promoters, coalesce(sum(k.detractors), 0)::float8 AS detractors
        FROM periods p LEFT JOIN rounds k ON \(KpiSQL.inPeriod("k.opens_at"))
          -- An anonymous round once closed; any round only with its survey's threshold of answers
          -- (0 for an identified survey without one), as GetResults shows them.
          AND (NOT k.anonymous OR k.closed) AND k.responses >= k.anonymity_threshold
          -- Filters are refused for survey KPIs; named so every parameter has a type.
          AND $4::text[] IS NULL AND $5::text[] IS NULL AND $6::int[] IS NULL AND $7::text[] IS NULL
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

  private static func opportunitySQL(_ measure: OpportunityMeasure) -> String {
    let won = "o.status = 'won' AND \(KpiSQL.inPeriod("o.closed_at"))"
    let (num, den, join): (String, String, String)
    switch measure {
    case .createdCount: (num, den, join) = ("count(o.opportunity_id)", "NULL::numeric", KpiSQL.inPeriod("o.created_at"))
    case .createdAmount:
      (num, den, join) = ("coalesce(sum(o.amount), 0)", "NULL::numeric", KpiSQL.inPeriod("o.created_at"))
    case .wonAmount: (num, den, join) = ("coalesce(sum(o.amount), 0)", "NULL::numeric", won)
    case .expansionAmount:
      // From existing customers (KPIS.md): the account was a customer when the deal closed.
      let existing =
        "EXISTS (SELECT 1 FROM accounts a WHERE a.account_id = o.account_id AND \(Self.customer(at: "o.closed_at")))"
      (num, den, join) = (
        "coalesce(sum(o.amount), 0)", "NULL::numeric", won + " AND o.type = 'expansion' AND " + existing
      )
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
