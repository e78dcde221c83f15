import TallyProto
import TallyStore
import TallyWire

/// GetContentEngagement: content_engagement_by_asset, from the event rollup (it keeps the asset).
enum ContentEngagement {
  /// The KPI parameters with one period (label 0): $1 labels, $2 from, $3 to, $4..$7 filters, then $8 limit.
  static let sql = """
    WITH \(KpiSQL.periods), \(KpiSQL.targetsJoinedOnce)
    SELECT e.asset_id,
      coalesce(sum(e.events) FILTER (WHERE e.type = 'content_view'), 0)::int8 AS views,
      coalesce(sum(e.seconds) FILTER (WHERE e.type IN ('content_view', 'web_visit')), 0)::float8 / 60 AS minutes,
      coalesce(sum(e.events) FILTER (WHERE e.type = 'content_download'), 0)::int8 AS downloads,
      coalesce(sum(e.events) FILTER (WHERE e.type = 'content_share'), 0)::int8 AS shares,
      count(DISTINCT e.account_id) FILTER (
        WHERE t.account_id IS NOT NULL AND e.type IN \(KpiSQL.list(KpiFormula.engagementTypes))) AS engaged,
      sum(e.events)::int8 AS events
    FROM periods p JOIN event_rollup_daily e ON \(KpiSQL.periodRows("e")) AND e.asset_id <> ''
      LEFT JOIN targets t ON t.label = p.label AND t.account_id = e.account_id
    GROUP BY e.asset_id
    ORDER BY minutes DESC, events DESC, e.asset_id
    LIMIT $8::int
    """

  static func assets(_ request: Tally_V1_GetContentEngagementRequest, _ connection: PostgresConnection) throws
    -> Tally_V1_GetContentEngagementResponse
  {
    var limit = AccountEngagement.defaultLimit
    let (period, filter) = try KpiEngine.singlePeriod(request.from, request.to, request.filter) { checker in
      limit = AccountEngagement.limit(request.limit, &checker)
    }
    let parameters = KpiEngine.parameters([period], filter) + [Int64(limit)]
    var response = Tally_V1_GetContentEngagementResponse()
    response.from = period.from.description
    response.to = period.to.description
    response.assets = try connection.query(Self.sql, parameters).rows.map { row in
      var asset = Tally_V1_AssetEngagement()
      asset.assetID = try row.require(String.self, "asset_id")
      asset.views = UInt64(try row.require(Int64.self, "views"))
      asset.minutes = try row.require(Double.self, "minutes")
      asset.downloads = UInt64(try row.require(Int64.self, "downloads"))
      asset.shares = UInt64(try row.require(Int64.self, "shares"))
      asset.engagedTargetAccounts = UInt64(try row.require(Int64.self, "engaged"))
      asset.events = UInt64(try row.require(Int64.self, "events"))
      return asset
    }
    return response
  }
}
