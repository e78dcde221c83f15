import Foundation
import TallyProto
import TallyStore
import TallyWire

/// `tally.v1.CampaignService`: campaigns, their target accounts, and costs.
public struct CampaignService: Sendable {
  /// Account ids per SetCampaignTargets list.
  static let maxTargetChanges = 10_000

  private let database: TenantDatabase

  public init(database: TenantDatabase) { self.database = database }

  public func register(into router: inout Router) {
    router.unary(CampaignMethods.upsertCampaign, access: .tenantWrite, self.upsertCampaign)
    router.unary(CampaignMethods.getCampaign, access: .tenantRead, self.getCampaign)
    router.unary(CampaignMethods.listCampaigns, access: .tenantRead, self.listCampaigns)
    router.unary(CampaignMethods.deleteCampaign, access: .tenantWrite, self.deleteCampaign)
    router.unary(CampaignMethods.setCampaignTargets, access: .tenantWrite, self.setCampaignTargets)
    router.unary(CampaignMethods.recordCost, access: .tenantWrite, self.recordCost)
    router.unary(CampaignMethods.listCosts, access: .tenantRead, self.listCosts)
  }

  @Sendable func upsertCampaign(_ request: Tally_V1_UpsertCampaignRequest, _ context: RequestContext) async throws
    -> Tally_V1_Campaign
  {
    let campaign = request.campaign
    let violations = CampaignRecord.validate(campaign)
    guard violations.isEmpty else { throw RPCError.invalidArgument(violations) }
    return try await self.database.transaction(context) { connection in
      try connection.query(
        """
        INSERT INTO campaigns (tenant_id, campaign_id, name, channel, starts_at, ends_at, budget)
        VALUES (\(currentTenantSQL), $1, $2, $3, \(Micros.sql("$4")), \(Micros.sql("$5")), $6::bigint)
        ON CONFLICT (tenant_id, campaign_id) DO UPDATE SET name = EXCLUDED.name, channel = EXCLUDED.channel,
          starts_at = EXCLUDED.starts_at, ends_at = EXCLUDED.ends_at, budget = EXCLUDED.budget, updated_at = now()
        """,
        [
          campaign.id, campaign.name, campaign.channel, micros(campaign.startsAt),
          campaign.hasEndsAt ? micros(campaign.endsAt) : nil, campaign.hasBudget ? campaign.budget : nil,
        ]
      )
      guard let stored = try Self.campaign(campaign.id, connection) else {
        throw RPCError(code: .internalError, message: "the campaign vanished within its own transaction")
      }
      return stored
    }
  }

  @Sendable func getCampaign(_ request: Tally_V1_GetCampaignRequest, _ context: RequestContext) async throws
    -> Tally_V1_Campaign
  {
    try AccountService.checkID(request.id, "id")
    let campaign = try await self.database.transaction(context) { try Self.campaign(request.id, $0) }
    guard let campaign else { throw RPCError(code: .notFound, message: "no campaign \(request.id)") }
    return campaign
  }

  @Sendable func listCampaigns(_ request: Tally_V1_ListCampaignsRequest, _ context: RequestContext) async throws
    -> Tally_V1_ListCampaignsResponse
  {
    var checker = FieldChecker()
    let (pageSize, after) = try IDPageToken.read(size: request.pageSize, token: request.pageToken, into: &checker)
    if !request.channel.isEmpty { checker.oneOf(request.channel, "channel", CampaignRecord.channels) }
    try checker.check()
    let rows = try await self.database.transaction(context) { connection in
      try connection.query(
        """
        SELECT \(CampaignRecord.columns) FROM campaigns c
        WHERE ($1::text IS NULL OR c.campaign_id > $1) AND ($2::text IS NULL OR c.channel = $2)
        ORDER BY c.campaign_id LIMIT $3
        """,
        [after, nonEmpty(request.channel), pageSize + 1]
      ).rows
    }
    var response = Tally_V1_ListCampaignsResponse()
    (response.campaigns, response.nextPageToken) = try IDPageToken.page(
      rows, pageSize, CampaignRecord.message, id: \.id)
    return response
  }

  @Sendable func deleteCampaign(_ request: Tally_V1_DeleteCampaignRequest, _ context: RequestContext) async throws
    -> Tally_V1_DeleteCampaignResponse
  {
    try AccountService.checkID(request.id, "id")
    // Locked first and its targets deleted by name, as DeleteAccount does: counts taken before a
    // cascading delete missed a target or cost a racing write added, and counted one it removed.
    let response = try await self.database.transaction(context) { connection -> Tally_V1_DeleteCampaignResponse? in
      let lock = "SELECT 1 FROM campaigns WHERE campaign_id = $1 FOR UPDATE"
      guard !(try connection.query(lock, [request.id]).rows.isEmpty) else { return nil }
      var response = Tally_V1_DeleteCampaignResponse()
      response.targetsRemoved = UInt32(
        try connection.query("DELETE FROM campaign_targets WHERE campaign_id = $1", [request.id]).affectedRows)
      // A cost is never moved to another campaign: with the campaign locked, this count holds.
      let costs = try connection.query("SELECT count(*) AS n FROM costs WHERE campaign_id = $1", [request.id])
      response.costsUnlinked = UInt32(try costs.rows[0].require(Int.self, "n"))
      try connection.query("DELETE FROM campaigns WHERE campaign_id = $1", [request.id])
      return response
    }
    guard let response else { throw RPCError(code: .notFound, message: "no campaign \(request.id)") }
    return response
  }

  /// All or nothing: an unknown account in `add` refuses the whole change.
  @Sendable func setCampaignTargets(_ request: Tally_V1_SetCampaignTargetsRequest, _ context: RequestContext)
    async throws -> Tally_V1_SetCampaignTargetsResponse
  {
    var checker = FieldChecker()
    checker.id(request.campaignID, "campaign_id")
    for (field, ids) in [("add", request.add), ("remove", request.remove)] {
      // Past the limit, the ids are not worth checking one by one.
      guard ids.count <= Self.maxTargetChanges else {
        checker.add(field, "must list at most \(Self.maxTargetChanges) account ids, got \(ids.count)")
        continue
      }
      for (index, id) in ids.enumerated() { checker.id(id, "\(field)[\(index)]") }
    }
    // An account in both lists would be added, then removed: which one the client meant is unknown.
    let withinLimits = request.add.count <= Self.maxTargetChanges && request.remove.count <= Self.maxTargetChanges
    for (index, first) in withinLimits ? Validation.repeats(request.add + request.remove) : []
    where index >= request.add.count && first < request.add.count {
      let id = request.add[first]
      checker.add(
        "remove[\(index - request.add.count)]",
        "\"\(id.prefix(60))\" is also add[\(first)]: an account is added or removed, not both")
    }
    try checker.check()
    return try await self.database.transaction(context) { connection in
      guard try Self.campaign(request.campaignID, connection) != nil else {
        throw RPCError.notFound(field: "campaign_id", "names no campaign: \(request.campaignID)")
      }
      let missing = try missingIDs(request.add, table: "accounts", column: "account_id", connection)
      guard missing.isEmpty else {
        let shown = missing.prefix(10).joined(separator: ", ") + (missing.count > 10 ? ", …" : "")
        throw RPCError.notFound(
          field: "add", "names no account: \(shown) (\(missing.count) unknown in add); nothing changed")
      }
      // In id order, whatever the client's: two calls adding the same accounts wait for each other
      // in one order instead of deadlocking (one ABORTED).
      let added = try connection.query(
        """
        INSERT INTO campaign_targets (tenant_id, campaign_id, account_id)
        SELECT \(currentTenantSQL), $1, unnest($2::text[]) ON CONFLICT DO NOTHING
        """,
        [request.campaignID, PostgresArray.literal(request.add.sorted { ExactID($0) < ExactID($1) })]
      ).affectedRows
      let removed = try connection.query(
        "DELETE FROM campaign_targets WHERE campaign_id = $1 AND account_id = ANY($2::text[])",
        [request.campaignID, PostgresArray.literal(request.remove)]
      ).affectedRows
      var response = Tally_V1_SetCampaignTargetsResponse()
      response.added = UInt32(added)
      response.removed = UInt32(removed)
      response.targetAccountCount = try Self.campaign(request.campaignID, connection)?.targetAccountCount ?? 0
      return response
    }
  }

  /// A repeat with a key already stored answers the stored cost; a different cost under that key is ALREADY_EXISTS.
  @Sendable func recordCost(_ request: Tally_V1_RecordCostRequest, _ context: RequestContext) async throws
    -> Tally_V1_Cost
  {
    let cost = request.cost
    let violations = CostRecord.validate(cost)
    guard violations.isEmpty else { throw RPCError.invalidArgument(violations) }
    return try await self.database.transaction(context) { connection in
      // The key first: a repeat answers the stored cost even after its campaign was deleted.
      if !cost.key.isEmpty, let stored = try Self.storedCost(key: cost.key, connection) {
        return try Self.repeated(stored, cost, connection)
      }
      if !cost.campaignID.isEmpty, try Self.campaign(cost.campaignID, connection) == nil {
        throw RPCError.notFound(field: "cost.campaign_id", "names no campaign: \(cost.campaignID)")
      }
      let inserted = try connection.query(
        """
        INSERT INTO costs (tenant_id, cost_id, key, campaign_id, cost_date, amount, category, note)
        VALUES (\(currentTenantSQL), gen_random_uuid(), $1, $2, $3::date, $4::bigint, $5, $6)
        ON CONFLICT (tenant_id, key) DO NOTHING RETURNING \(CostRecord.columns)
        """,
        [nonEmpty(cost.key), nonEmpty(cost.campaignID), cost.date, cost.amount, cost.category, nonEmpty(cost.note)]
      ).rows.first
      if let inserted { return try CostRecord.message(inserted) }
      // A call with the same key committed in between.
      guard let stored = try Self.storedCost(key: cost.key, connection) else {
        throw RPCError(code: .aborted, message: "cost key \(cost.key) was taken and released meanwhile; try again")
      }
      return try Self.repeated(stored, cost, connection)
    }
  }

  private static func storedCost(key: String, _ connection: PostgresConnection) throws -> Tally_V1_Cost? {
    try connection.query("SELECT \(CostRecord.columns) FROM costs WHERE key = $1", [key]).rows.first.map {
      try CostRecord.message($0)
    }
  }

  /// The stored cost when `sent` is the same cost; a stored cost that lost its campaign to a
  /// deletion matches a repeat that still names it (a campaign that no longer exists).
  private static func repeated(_ stored: Tally_V1_Cost, _ sent: Tally_V1_Cost, _ connection: PostgresConnection)
    throws -> Tally_V1_Cost
  {
    var sent = sent
    if stored.campaignID.isEmpty, !sent.campaignID.isEmpty, try Self.campaign(sent.campaignID, connection) == nil {
      sent.campaignID = ""
    }
    guard CostRecord.sameStoredFields(stored, sent) else {
      throw RPCError(
        code: .alreadyExists,
        message: "cost key \(sent.key) was used for a different cost (\(stored.costID)); use a new key"
      )
    }
    return stored
  }

  @Sendable func listCosts(_ request: Tally_V1_ListCostsRequest, _ context: RequestContext) async throws
    -> Tally_V1_ListCostsResponse
  {
    var checker = FieldChecker()
    // Gathered with the other fields, so that one answer names every bad field (as the other lists).
    let pageSize = try Validation.collecting(&checker) { try Validation.pageSize(request.pageSize) } ?? 0
    let after =
      try Validation.collecting(&checker) {
        try PageToken.decode(request.pageToken, positions: PageToken.dayPositions)
      } ?? nil
    for (field, value) in [("from_date", request.fromDate), ("to_date", request.toDate)] where !value.isEmpty {
      CostRecord.checkDay(value, field, &checker)
    }
    // A reversed range would list nothing without a word, where ListEvents refuses it.
    if let from = CostRecord.day(request.fromDate), let to = CostRecord.day(request.toDate), to < from {
      checker.add("to_date", "must not be before from_date (\(request.fromDate)), got \(request.toDate)")
    }
    checker.text(request.campaignID, "campaign_id")
    try checker.check()
    let rows = try await self.database.transaction(context) { connection in
      try connection.query(
        """
        SELECT \(CostRecord.columns) FROM costs
        WHERE ($1::bigint IS NULL OR (cost_date, cost_id) > (DATE '1970-01-01' + $1::bigint::integer, $2::uuid))
          AND ($3::text IS NULL OR campaign_id = $3)
          AND ($4::date IS NULL OR cost_date >= $4::date) AND ($5::date IS NULL OR cost_date <= $5::date)
        ORDER BY cost_date, cost_id LIMIT $6
        """,
        [
          after?.position, after?.id, nonEmpty(request.campaignID), nonEmpty(request.fromDate),
          nonEmpty(request.toDate), pageSize + 1,
        ]
      ).rows
    }
    var response = Tally_V1_ListCostsResponse()
    response.costs = try rows.prefix(pageSize).map(CostRecord.message)
    if rows.count > pageSize, let last = rows.prefix(pageSize).last {
      response.nextPageToken = PageToken.encode(
        position: try last.require(Int64.self, "day"),
        id: try last.require(String.self, "cost_id")
      )
    }
    return response
  }

  static func campaign(_ id: String, _ connection: PostgresConnection) throws -> Tally_V1_Campaign? {
    try connection.query("SELECT \(CampaignRecord.columns) FROM campaigns c WHERE c.campaign_id = $1", [id]).rows
      .first.map(CampaignRecord.message)
  }
}
