import TallyProto

/// One KPI: what it means (ListKpis) and how it is computed (GetKpis).
struct Kpi: Sendable {
  let name: String
  let family: String
  let unit: String
  let headline: Bool
  let definition: String
  let numerator: String
  let denominator: String
  let formula: KpiFormula

  var message: Tally_V1_KpiDefinition {
    var message = Tally_V1_KpiDefinition()
    message.name = self.name
    message.family = self.family
    message.unit = self.unit
    message.headline = self.headline
    message.definition = self.definition
    message.numerator = self.numerator
    message.denominator = self.denominator
    return message
  }
}

/// The KPIs of ../shared/design/KPIS.md that GetKpis answers, in catalogue order.
enum KpiCatalog {
  static let families = ["engagement", "conversion", "coverage", "pipeline", "retention", "sales_activity"]

  static let all: [Kpi] = engagement + conversion + coverage + pipeline + retention + salesActivity

  static let byName: [String: Kpi] = Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0) })

  /// The default dashboard: the headline KPIs.
  static let dashboards: [String: [String]] = [
    "default": all.filter(\.headline).map(\.name)
  ]

  private static func kpi(
    _ name: String, _ family: String, _ unit: String, headline: Bool = true, _ definition: String,
    _ numerator: String, _ denominator: String, _ formula: KpiFormula
  ) -> Kpi {
    Kpi(
      name: name, family: family, unit: unit, headline: headline, definition: definition, numerator: numerator,
      denominator: denominator, formula: formula)
  }

  /// A count or a sum: no denominator.
  private static func kpi(
    _ name: String, _ family: String, _ unit: String, headline: Bool = true, _ definition: String,
    _ numerator: String, _ formula: KpiFormula
  ) -> Kpi {
    Self.kpi(name, family, unit, headline: headline, definition, numerator, "", formula)
  }

  /// The email rates' base: "sent − bounced" as sets of contacts.
  static let deliveredContacts =
    "contacts with email_sent, less those with email_bounced and no email_opened, email_clicked or email_replied"

  static let engagement: [Kpi] = [
    kpi(
      "email_open_rate", "engagement", "ratio", "Unique contacts who opened an email / contacts delivered.",
      "contacts sent an email in the period with email_opened", Self.deliveredContacts,
      .people(numerator: ["email_opened"], base: .delivered)),
    kpi(
      "email_click_through_rate", "engagement", "ratio", "Unique contacts who clicked / contacts delivered.",
      "contacts sent an email in the period with email_clicked", Self.deliveredContacts,
      .people(numerator: ["email_clicked"], base: .delivered)),
    kpi(
      "email_click_to_open_rate", "engagement", "ratio", "Unique clickers / unique openers.",
      "contacts with email_clicked", "contacts with email_opened",
      .people(numerator: ["email_clicked"], base: .types(["email_opened"]))),
    kpi(
      "email_reply_rate", "engagement", "ratio", "Unique contacts who replied / contacts delivered.",
      "contacts sent an email in the period with email_replied", Self.deliveredContacts,
      .people(numerator: ["email_replied"], base: .delivered)),
    kpi(
      "content_engagement_minutes", "engagement", "minutes",
      "Minutes spent on content views and web visits (duration_seconds / 60).",
      "seconds of content_view and web_visit / 60", .minutes(["content_view", "web_visit"])),
    kpi(
      "account_engagement_rate", "engagement", "ratio",
      "Target accounts with at least one engagement event / target accounts.",
      "target accounts with an engagement event", "target accounts (tier 1 to 3 in the period)",
      .engagedTargetAccounts),
    kpi(
      "ad_engagement_rate", "engagement", "ratio", "Ad clicks / ad impressions.", "ad_click events",
      "ad_impression events", .eventRatio(numerator: ["ad_click"], denominator: ["ad_impression"])),
    kpi(
      "web_visits_from_target_accounts", "engagement", "count", "Web visits whose account is a target account.",
      "web_visit events of target accounts", .eventCount(["web_visit"], targetsOnly: true)),
    kpi(
      "web_visitors_from_target_accounts", "engagement", "count",
      "Unique visitors (contacts) of target accounts with a web visit.", "contacts of target accounts with web_visit",
      .targetPeople(["web_visit"])),
    kpi(
      "event_attendance_rate", "engagement", "ratio", "Attended / registered (webinars and events).",
      "event_attended events", "event_registered events",
      .eventRatio(numerator: ["event_attended"], denominator: ["event_registered"])),
    kpi(
      "social_engagements", "engagement", "count", "Social engagement events from target accounts.",
      "social_engagement events of target accounts", .eventCount(["social_engagement"], targetsOnly: true)),
  ]

  static let conversion: [Kpi] = [
    kpi(
      "form_fill_rate", "conversion", "ratio", "Form submissions / form views.", "form_submitted events",
      "form_view events", .eventRatio(numerator: ["form_submitted"], denominator: ["form_view"])),
    kpi(
      "form_fills", "conversion", "count", "Form submissions.", "form_submitted events",
      .eventCount(["form_submitted"], targetsOnly: false)),
    kpi(
      "form_fillers", "conversion", "count", "Unique contacts who submitted a form.", "contacts with form_submitted",
      .people(numerator: ["form_submitted"], base: .none)),
    kpi(
      "cta_conversion_rate", "conversion", "ratio", "CTA conversions / CTA views.", "cta_converted events",
      "cta_view events", .eventRatio(numerator: ["cta_converted"], denominator: ["cta_view"])),
    kpi(
      "meetings_scheduled", "conversion", "count", "Calls and demos scheduled.", "meeting_scheduled events",
      .eventCount(["meeting_scheduled"], targetsOnly: false)),
    kpi(
      "accounts_with_meetings", "conversion", "count", "Unique accounts with a call or demo scheduled.",
      "accounts with meeting_scheduled", .accountsWith(["meeting_scheduled"])),
    kpi(
      "conversation_to_meeting_rate", "conversion", "ratio", "Meetings scheduled / meaningful conversations.",
      "meeting_scheduled events", "conversation events",
      .eventRatio(numerator: ["meeting_scheduled"], denominator: ["conversation"])),
    kpi(
      "conversion_rate", "conversion", "ratio",
      "Conversions (form submissions, CTA conversions, meetings scheduled) / engagement events, over the events of known accounts.",
      "form_submitted, cta_converted and meeting_scheduled events", "engagement events of known accounts",
      .conversionRate),
  ]

  static let coverage: [Kpi] = [
    kpi(
      "account_coverage", "coverage", "ratio",
      "Target accounts with at least min_contacts contacts (a setting, default 3) and a decision maker / target accounts.",
      "covered target accounts", "target accounts (tier 1 to 3 in the period)", .accounts(.coverage)),
    kpi(
      "contacts_per_target_account", "coverage", "number", "Contacts per target account, on average.",
      "contacts of target accounts", "target accounts (tier 1 to 3 in the period)", .accounts(.contactsPerTarget)),
    kpi(
      "data_completeness", "coverage", "ratio",
      "Share of the required account fields (industry, size, revenue, owner, tier) filled, over target accounts.",
      "filled required fields", "5 × target accounts", .accounts(.dataCompleteness)),
    kpi(
      "program_reach", "coverage", "ratio",
      "Target accounts with a success (attended, clicked, replied, submitted) from a program that targets them / target accounts in the programs' target lists.",
      "target accounts with a success", "target accounts in the programs' target lists", .programReach),
    kpi(
      "program_focus", "coverage", "ratio", "Share of the programs' successes that come from target accounts.",
      "successes of target accounts", "successes of campaign events", .programFocus),
    kpi(
      "account_to_opportunity_rate", "coverage", "ratio",
      "Target accounts with an opportunity created in the period / target accounts.",
      "target accounts with an opportunity created", "target accounts (tier 1 to 3 in the period)",
      .targetAccountsWithOpportunity),
    kpi(
      "marketing_qualified_accounts", "coverage", "count",
      "Accounts whose engagement score at the end of the period reaches the MQA threshold (a setting, default 100).",
      "accounts with a score at or above the MQA threshold", .marketingQualifiedAccounts),
  ]

  static let pipeline: [Kpi] = [
    kpi(
      "opportunities_created", "pipeline", "count", "Opportunities created in the period.",
      "opportunities created", .opportunities(.createdCount)),
    kpi(
      "pipeline_created", "pipeline", "money", "Amount of the opportunities created in the period.",
      "sum of their amounts", .opportunities(.createdAmount)),
    kpi(
      "revenue_created", "pipeline", "money", "Closed-won amount, by close date.", "sum of won amounts",
      .opportunities(.wonAmount)),
    kpi(
      "acv", "pipeline", "money",
      "Average annual contract value of the deals won: amount / contract years (12 months when unknown).",
      "Σ amount × 12 / contract months", "opportunities won", .accounts(.annualContractValue(timesICP: false))),
    kpi(
      "tam", "pipeline", "money",
      "Average ACV of the deals won × accounts on the ideal-customer list (in_icp or a target tier).",
      "Σ ACV × ICP accounts", "opportunities won", .accounts(.annualContractValue(timesICP: true))),
    kpi(
      "win_rate", "pipeline", "ratio", "Closed-won / (closed-won + closed-lost), by close date.",
      "opportunities won", "opportunities won or lost", .opportunities(.winRate)),
    kpi(
      "average_deal_size", "pipeline", "money", "Mean closed-won amount.", "sum of won amounts",
      "opportunities won", .opportunities(.averageDealSize)),
    kpi(
      "sales_cycle_days", "pipeline", "days", headline: false,
      "Mean days from an opportunity's creation to its close as won (secondary: shown beside the account KPIs).",
      "days from created to won, summed", "opportunities won", .opportunities(.salesCycleDays)),
    kpi(
      "cac", "pipeline", "money", "Marketing and sales cost in the period / new customers won in the period.",
      "costs (media, content, tools, people, other)", "accounts with a won new_business opportunity",
      .acquisitionCost(fullyLoaded: false)),
    kpi(
      "cac_fully_loaded", "pipeline", "money", headline: false,
      "CAC with the period's onboarding and support costs added.", "costs of every category",
      "accounts with a won new_business opportunity", .acquisitionCost(fullyLoaded: true)),
    kpi(
      "influenced_pipeline", "pipeline", "money",
      "Amount of the opportunities created in the period whose account had a campaign touch in the influence look-back (a setting, default 90 days) before.",
      "sum of influenced amounts", .influencedPipeline(share: false)),
    kpi(
      "influenced_pipeline_share", "pipeline", "ratio", "Influenced pipeline / all pipeline created in the period.",
      "amount of influenced opportunities created", "amount of all opportunities created",
      .influencedPipeline(share: true)),
    kpi(
      "influenced_accounts_share", "pipeline", "ratio",
      "Target accounts with an influenced opportunity created in the period / accounts on the ideal-customer list (the TAM's accounts).",
      "target accounts with an influenced opportunity",
      "accounts in_icp or of a target tier (now or in the period)", .influencedAccounts),
    kpi(
      "attributed_revenue", "pipeline", "money",
      "Won amount credited to campaigns by the linear model: each deal's amount × the share of its touches from the filtered campaigns (all of them without a filter).",
      "credited won amount", .attributedRevenue(roi: false)),
    kpi(
      "roi", "pipeline", "ratio",
      "(Attributed revenue − cost) / cost, cost being every category but onboarding and support; per campaign with a campaign filter.",
      "attributed revenue minus cost", "cost", .attributedRevenue(roi: true)),
    kpi(
      "pipeline_velocity", "pipeline", "money",
      "Open opportunities at the end × average deal size × win rate / average sales-cycle days: pipeline expected to close per day.",
      "open opportunities × won amount / deals won or lost", "mean sales-cycle days of the deals won",
      .pipelineVelocity),
    kpi(
      "clv", "pipeline", "money",
      "Average ACV × gross margin × expected lifetime in years (1 / annual logo churn, 10 years when nobody churned).",
      "Σ ACV × gross margin × lifetime", "opportunities won (0 without customers at the start)",
      .customerLifetimeValue),
    kpi(
      "accepted_accounts_per_1000", "pipeline", "number",
      "Target accounts with an opportunity accepted by sales in the period, per 1,000 target accounts.",
      "1,000 × target accounts accepted", "target accounts (tier 1 to 3 in the period)", .acceptedAccountsPer1000),
  ]

  static let retention: [Kpi] = [
    kpi(
      "logo_retention_rate", "retention", "ratio",
      "(Customers at the end − new customers in the period) / customers at the start.",
      "customers at the start who stayed customers through the end", "customers at the start", .accounts(.logoRetention)
    ),
    kpi(
      "net_revenue_retention", "retention", "ratio",
      "(Starting ARR + expansion − contraction − churned ARR) / starting ARR, for the customers at the start.",
      "their ARR at the end (0 when churned)", "their ARR at the start", .accounts(.netRevenueRetention)),
    kpi(
      "nps", "retention", "score",
      "Customer NPS: 100 × (promoters − detractors) / responses, over the NPS survey rounds opened in the period.",
      "100 × (promoters − detractors)", "responses", .surveyScore(kind: "nps")),
    kpi(
      "enps", "retention", "score",
      "Employee NPS over the eNPS rounds opened in the period; a round counts once closed and at its threshold.",
      "100 × (promoters − detractors)", "responses", .surveyScore(kind: "enps")),
    kpi(
      "expansion_revenue", "retention", "money", "Cross-sell and upsell closed-won amount (expansion opportunities).",
      "sum of won expansion amounts", .opportunities(.expansionAmount)),
  ]

  static let salesActivity: [Kpi] = [
    kpi(
      "meetings_per_conversation", "sales_activity", "ratio", "Meetings booked / meaningful conversations.",
      "meeting_scheduled events", "conversation events",
      .eventRatio(numerator: ["meeting_scheduled"], denominator: ["conversation"])),
    kpi(
      "meaningful_conversations", "sales_activity", "count", "Meaningful conversations.", "conversation events",
      .eventCount(["conversation"], targetsOnly: false)),
    kpi(
      "activities_per_rep_per_day", "sales_activity", "number",
      "Dials, sales emails and completed tasks per rep (events with a rep_id) per working day (Monday to Friday, up to today).",
      "call_dialed, sales_email and task_completed events with a rep",
      "reps active in the period × working days so far",
      .activitiesPerRep),
  ]
}
