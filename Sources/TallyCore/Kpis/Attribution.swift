import TallyProto
import TallyStore
import TallyWire

/// GetAttribution: won revenue and pipeline of a period credited to the campaigns whose touches
/// came before each deal, by one model, beside each campaign's cost.
enum Attribution {
  /// Deals won in [$1, $2) by close date or created in it, with their touches: engagement events of
  /// the deal's account with a campaign, at most $3 days before the creation day (that day
  /// included). `kept` says whether the campaign filter ($4, $5) keeps the touch's campaign.
  static let touchesSQL = """
    WITH deals AS (
      SELECT o.opportunity_id, o.account_id, o.amount, (o.created_at AT TIME ZONE 'UTC')::date AS created_day,
        o.status = 'won' AND \(Self.inPeriod("o.closed_at")) AS won, \(Self.inPeriod("o.created_at")) AS created
      FROM opportunities o
      WHERE ((o.status = 'won' AND \(Self.inPeriod("o.closed_at"))) OR \(Self.inPeriod("o.created_at")))
        AND \(KpiSQL.accountFilter("o.account_id"))
    )
    SELECT d.opportunity_id, d.amount, d.won, d.created, e.campaign_id, d.created_day - e.day AS age,
      sum(e.events)::int8 AS touches, coalesce(\(KpiSQL.campaignFilter("e.campaign_id")), false) AS kept
    FROM deals d LEFT JOIN event_rollup_daily e ON e.account_id = d.account_id AND e.campaign_id <> ''
      AND e.day <= d.created_day AND e.day >= d.created_day - $3::int
      AND e.type IN \(KpiSQL.list(KpiFormula.engagementTypes))
    GROUP BY d.opportunity_id, d.amount, d.won, d.created, d.created_day, e.campaign_id, e.day
    ORDER BY d.opportunity_id
    """

  /// Costs in [$1, $2) per campaign (NULL: none), every category but onboarding and support; `kept`
  /// as above, from $3 (campaign ids) and $4 (channels).
  static let costsSQL = """
    SELECT k.campaign_id, sum(k.amount)::int8 AS amount,
      coalesce(\(KpiSQL.campaignFilter("k.campaign_id", campaigns: "$3", channels: "$4")), false) AS kept
    FROM costs k
    WHERE k.cost_date >= $1::date AND k.cost_date < $2::date AND k.category NOT IN ('onboarding', 'support')
    GROUP BY k.campaign_id
    """

  static func inPeriod(_ column: String) -> String {
    KpiSQL.time(column, from: "$1::date", to: "$2::date")
  }

  struct Deal {
    var amount: Int64
    var won: Bool
    var created: Bool
    var touches: [AttributionModel.Touch] = []
  }

  static func attribution(
    _ request: Tally_V1_GetAttributionRequest, settings: KpiSettings, currency: String,
    _ connection: PostgresConnection
  ) throws -> Tally_V1_GetAttributionResponse {
    var model = AttributionModel.linear
    let (period, filter) = try KpiEngine.singlePeriod(request.from, request.to, request.filter) { checker in
      guard !request.model.isEmpty else { return }
      if let named = AttributionModel(rawValue: request.model) {
        model = named
      } else {
        checker.oneOf(request.model, "model", AttributionModel.allCases.map(\.rawValue))
      }
    }
    let (from, to) = (period.from.description, period.to.description)
    var deals: [ExactID: Deal] = [:]  // opportunities and campaigns by bytes, as PostgreSQL tells them apart
    var kept: Set<ExactID> = []
    let rows = try connection.query(
      Self.touchesSQL, [from, to, Int64(settings.lookbackDays)] + filter.sqlParameters
    ).rows
    for row in rows {
      let id = ExactID(try row.require(String.self, "opportunity_id"))
      if deals[id] == nil {
        deals[id] = Deal(
          amount: try row.require(Int64.self, "amount"), won: try row.require(Bool.self, "won"),
          created: try row.require(Bool.self, "created"))
      }
      guard let campaign = try row.decode(String.self, "campaign_id").map({ ExactID($0) }) else { continue }
      deals[id]?.touches.append(
        .init(campaign: campaign, age: try row.require(Int.self, "age"), count: try row.require(Int64.self, "touches")))
      if try row.require(Bool.self, "kept") { kept.insert(campaign) }
    }
    var response = Tally_V1_GetAttributionResponse()
    response.from = from
    response.to = to
    response.model = model.rawValue
    response.currency = currency
    response.lookbackDays = UInt32(settings.lookbackDays)
    var campaigns: [ExactID: Tally_V1_CampaignAttribution] = [:]
    for deal in deals.values {
      let credits = AttributionModel.split(deal.amount, model.weights(deal.touches))
      if deal.won {
        try response.wonRevenue.addMoney(deal.amount)
        try response.attributedRevenue.addMoney(credits.values.moneyTotal())
      }
      if deal.created {
        try response.pipelineCreated.addMoney(deal.amount)
        try response.attributedPipeline.addMoney(credits.values.moneyTotal())
      }
      for touch in deal.touches where kept.contains(touch.campaign) {
        campaigns[touch.campaign, default: .init()].touches += UInt64(touch.count)
      }
      for campaign in Set(deal.touches.map(\.campaign)) where kept.contains(campaign) {
        campaigns[campaign, default: .init()].dealsWon += deal.won ? 1 : 0
        campaigns[campaign, default: .init()].opportunities += deal.created ? 1 : 0
        try campaigns[campaign, default: .init()].attributedRevenue.addMoney(
          deal.won ? credits[campaign, default: 0] : 0)
        try campaigns[campaign, default: .init()].attributedPipeline.addMoney(
          deal.created ? credits[campaign, default: 0] : 0)
      }
    }
    // Costs are not per account: with an account or tier filter they would not match the revenue.
    if !filter.filtersAccounts {
      let filters = filter.sqlParameters
      for row in try connection.query(Self.costsSQL, [from, to, filters[0], filters[1]]).rows {
        let amount = try row.require(Int64.self, "amount")
        try response.cost.addMoney(amount)
        guard let campaign = try row.decode(String.self, "campaign_id").map({ ExactID($0) }),
          try row.require(Bool.self, "kept")
        else { continue }
        try campaigns[campaign, default: .init()].cost.addMoney(amount)
      }
      if response.cost > 0 {
        response.roi = Double(response.attributedRevenue - response.cost) / Double(response.cost)
      }
    }
    let names = try connection.query(
      "SELECT campaign_id, name, channel FROM campaigns WHERE campaign_id = ANY($1::text[])",
      [PostgresArray.literal(campaigns.keys.map(\.text))]
    ).rows
    for row in names {
      let id = ExactID(try row.require(String.self, "campaign_id"))
      campaigns[id]?.name = try row.require(String.self, "name")
      campaigns[id]?.channel = try row.require(String.self, "channel")
    }
    response.campaigns = Array(
      Self.ranked(
        campaigns.map { id, campaign in
          var campaign = campaign
          campaign.campaignID = id.text
          if campaign.cost > 0 {
            campaign.roi = Double(campaign.attributedRevenue - campaign.cost) / Double(campaign.cost)
          }
          return campaign
        }
      ).prefix(KpiEngine.maxListed))
    return response
  }

  /// Most revenue first, then pipeline, then campaign id by bytes: look-alike ids (NFC and NFD)
  /// are two campaigns, and a dictionary's order must not decide which comes first.
  static func ranked(_ campaigns: [Tally_V1_CampaignAttribution]) -> [Tally_V1_CampaignAttribution] {
    campaigns.sorted {
      ($0.attributedRevenue, $0.attributedPipeline, ExactID($1.campaignID))
        > ($1.attributedRevenue, $1.attributedPipeline, ExactID($0.campaignID))
    }
  }
}
