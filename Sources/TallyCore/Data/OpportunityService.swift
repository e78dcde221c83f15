import Foundation
import TallyProto
import TallyStore
import TallyWire

/// `tally.v1.OpportunityService`: the pipeline of the call's tenant.
public struct OpportunityService: Sendable {
  static let statuses = ["open", "won", "lost"]
  static let types = ["new_business", "expansion", "renewal"]

  static let columns = """
    opportunity_id, account_id, name, amount, status, stage, type, \(Micros.column("created_at")),
    \(Micros.column("closed_at")), contract_months, \(Micros.column("accepted_at")), \(Micros.column("updated_at"))
    """

  private let database: TenantDatabase

  public init(database: TenantDatabase) { self.database = database }

  public func register(into router: inout Router) {
    router.unary(OpportunityMethods.upsertOpportunity, access: .tenantWrite, self.upsertOpportunity)
    router.unary(OpportunityMethods.getOpportunity, access: .tenantRead, self.getOpportunity)
    router.unary(OpportunityMethods.listOpportunities, access: .tenantRead, self.listOpportunities)
    router.unary(OpportunityMethods.deleteOpportunity, access: .tenantWrite) { request, context in
      try AccountService.checkID(request.id, "id")
      let deleted = try await self.database.transaction(context) { connection in
        try connection.query("DELETE FROM opportunities WHERE opportunity_id = $1", [request.id]).affectedRows
      }
      guard deleted == 1 else { throw RPCError(code: .notFound, message: "no opportunity \(request.id)") }
      return Tally_V1_DeleteOpportunityResponse()
    }
  }

  @Sendable func upsertOpportunity(_ request: Tally_V1_UpsertOpportunityRequest, _ context: RequestContext)
    async throws -> Tally_V1_Opportunity
  {
    let opportunity = request.opportunity
    var checker = FieldChecker(prefix: "opportunity.")
    checker.newID(opportunity.id, "id")
    checker.id(opportunity.accountID, "account_id")
    checker.money(opportunity.amount, "amount")
    let status = checker.oneOf(opportunity.status, "status", Self.statuses)
    checker.text(opportunity.stage, "stage")
    checker.oneOf(opportunity.type, "type", Self.types)
    let created = checker.timestamp(
      opportunity.hasCreatedAt ? opportunity.createdAt : nil, "created_at", required: true)
    let closed = checker.timestamp(opportunity.hasClosedAt ? opportunity.closedAt : nil, "closed_at")
    if let created, let closed, closed < created { checker.add("closed_at", "must not be before created_at") }
    if status == "open", closed != nil { checker.add("closed_at", "must be absent while status is open") }
    if status == "won" || status == "lost", !opportunity.hasClosedAt {
      checker.add("closed_at", "is required when status is \(status)")
    }
    if opportunity.contractMonths > 600 {
      checker.add("contract_months", "must be 1 to 600, or 0 for unknown; got \(opportunity.contractMonths)")
    }
    _ = checker.timestamp(opportunity.hasAcceptedAt ? opportunity.acceptedAt : nil, "accepted_at")
    let violations = Validation.name(opportunity.name, field: "opportunity.name") + checker.violations
    guard violations.isEmpty else { throw RPCError.invalidArgument(violations) }
    let row = try await self.database.transaction(context) { connection -> PostgresRow? in
      guard try missingIDs([opportunity.accountID], table: "accounts", column: "account_id", connection).isEmpty
      else { return nil }
      return try connection.query(
        """
        INSERT INTO opportunities (tenant_id, opportunity_id, account_id, name, amount, status, stage, type,
          created_at, closed_at, contract_months, accepted_at)
        VALUES (\(currentTenantSQL), $1, $2, $3, $4::bigint, $5, $6, $7, \(Micros.sql("$8")), \(Micros.sql("$9")),
          $10::integer, \(Micros.sql("$11")))
        ON CONFLICT (tenant_id, opportunity_id) DO UPDATE SET account_id = EXCLUDED.account_id, name = EXCLUDED.name,
          amount = EXCLUDED.amount, status = EXCLUDED.status, stage = EXCLUDED.stage, type = EXCLUDED.type,
          created_at = EXCLUDED.created_at, closed_at = EXCLUDED.closed_at,
          contract_months = EXCLUDED.contract_months, accepted_at = EXCLUDED.accepted_at, updated_at = now()
        RETURNING \(Self.columns)
        """,
        [
          opportunity.id, opportunity.accountID, opportunity.name, opportunity.amount, opportunity.status,
          nonEmpty(opportunity.stage), opportunity.type, created, closed,
          opportunity.contractMonths == 0 ? nil : Int(opportunity.contractMonths),
          opportunity.hasAcceptedAt ? micros(opportunity.acceptedAt) : nil,
        ]
      ).rows[0]
    }
    guard let row else {
      throw RPCError.notFound(field: "opportunity.account_id", "names no account: \(opportunity.accountID)")
    }
    return try Self.message(row)
  }

  @Sendable func getOpportunity(_ request: Tally_V1_GetOpportunityRequest, _ context: RequestContext) async throws
    -> Tally_V1_Opportunity
  {
    try AccountService.checkID(request.id, "id")
    let row = try await self.database.transaction(context) { connection in
      try connection.query("SELECT \(Self.columns) FROM opportunities WHERE opportunity_id = $1", [request.id]).rows
        .first
    }
    guard let row else { throw RPCError(code: .notFound, message: "no opportunity \(request.id)") }
    return try Self.message(row)
  }

  @Sendable func listOpportunities(_ request: Tally_V1_ListOpportunitiesRequest, _ context: RequestContext)
    async throws -> Tally_V1_ListOpportunitiesResponse
  {
    var checker = FieldChecker()
    let (pageSize, after) = try IDPageToken.read(size: request.pageSize, token: request.pageToken, into: &checker)
    if !request.status.isEmpty { checker.oneOf(request.status, "status", Self.statuses) }
    checker.text(request.accountID, "account_id")
    try checker.check()
    let rows = try await self.database.transaction(context) { connection in
      try connection.query(
        """
        SELECT \(Self.columns) FROM opportunities
        WHERE ($1::text IS NULL OR opportunity_id > $1) AND ($2::text IS NULL OR account_id = $2)
          AND ($3::text IS NULL OR status = $3)
        ORDER BY opportunity_id LIMIT $4
        """,
        [after, nonEmpty(request.accountID), nonEmpty(request.status), pageSize + 1]
      ).rows
    }
    var response = Tally_V1_ListOpportunitiesResponse()
    (response.opportunities, response.nextPageToken) = try IDPageToken.page(rows, pageSize, Self.message, id: \.id)
    return response
  }

  static func message(_ row: PostgresRow) throws -> Tally_V1_Opportunity {
    var opportunity = Tally_V1_Opportunity()
    opportunity.id = try row.require(String.self, "opportunity_id")
    opportunity.accountID = try row.require(String.self, "account_id")
    opportunity.name = try row.require(String.self, "name")
    opportunity.amount = try row.require(Int64.self, "amount")
    opportunity.status = try row.require(String.self, "status")
    opportunity.stage = try row.decode(String.self, "stage") ?? ""
    opportunity.type = try row.require(String.self, "type")
    opportunity.createdAt = Micros.timestamp(try row.require(Int64.self, "created_at"))
    if let value = try row.decode(Int64.self, "closed_at") { opportunity.closedAt = Micros.timestamp(value) }
    opportunity.contractMonths = UInt32(try row.decode(Int.self, "contract_months") ?? 0)
    if let value = try row.decode(Int64.self, "accepted_at") { opportunity.acceptedAt = Micros.timestamp(value) }
    opportunity.updatedAt = Micros.timestamp(try row.require(Int64.self, "updated_at"))
    return opportunity
  }
}
