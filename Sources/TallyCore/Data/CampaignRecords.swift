import Foundation
import TallyProto
import TallyStore
import TallyWire

/// Validation and SQL rows of campaigns.
enum CampaignRecord {
  static let channels = [
    "email", "ads", "web", "content", "events", "webinar", "social", "direct_mail", "sales", "other",
  ]

  static let columns = """
    c.campaign_id, c.name, c.channel, \(Micros.column("c.starts_at")), \(Micros.column("c.ends_at")), c.budget,
    (SELECT count(*) FROM campaign_targets t WHERE t.campaign_id = c.campaign_id) AS target_account_count,
    \(Micros.column("c.created_at")), \(Micros.column("c.updated_at"))
    """

  static func validate(_ input: Tally_V1_Campaign) -> [RPCError.FieldViolation] {
    var checker = FieldChecker(prefix: "campaign.")
    checker.newID(input.id, "id")
    checker.oneOf(input.channel, "channel", channels)
    let starts = checker.timestamp(input.hasStartsAt ? input.startsAt : nil, "starts_at", required: true)
    let ends = checker.timestamp(input.hasEndsAt ? input.endsAt : nil, "ends_at")
    if let starts, let ends, ends < starts { checker.add("ends_at", "must not be before starts_at") }
    if input.hasBudget { checker.money(input.budget, "budget") }
    return Validation.name(input.name, field: "campaign.name") + checker.violations
  }

  static func message(_ row: PostgresRow) throws -> Tally_V1_Campaign {
    var campaign = Tally_V1_Campaign()
    campaign.id = try row.require(String.self, "campaign_id")
    campaign.name = try row.require(String.self, "name")
    campaign.channel = try row.require(String.self, "channel")
    campaign.startsAt = Micros.timestamp(try row.require(Int64.self, "starts_at"))
    if let value = try row.decode(Int64.self, "ends_at") { campaign.endsAt = Micros.timestamp(value) }
    if let value = try row.decode(Int64.self, "budget") { campaign.budget = value }
    campaign.targetAccountCount = UInt32(try row.require(Int.self, "target_account_count"))
    campaign.createdAt = Micros.timestamp(try row.require(Int64.self, "created_at"))
    campaign.updatedAt = Micros.timestamp(try row.require(Int64.self, "updated_at"))
    return campaign
  }
}

/// Validation and SQL rows of costs.
enum CostRecord {
  static let categories = ["media", "content", "tools", "people", "onboarding", "support", "other"]

  static let columns = """
    cost_id::text AS cost_id, key, campaign_id, cost_date::text AS cost_date, (cost_date - DATE '1970-01-01') AS day,
    amount, category, note, \(Micros.column("created_at"))
    """

  static func validate(_ input: Tally_V1_Cost) -> [RPCError.FieldViolation] {
    var checker = FieldChecker(prefix: "cost.")
    if !input.key.isEmpty { checker.id(input.key, "key") }
    if !input.campaignID.isEmpty { checker.id(input.campaignID, "campaign_id") }
    checkDay(input.date, "date", &checker)
    checker.money(input.amount, "amount")
    checker.oneOf(input.category, "category", categories)
    checker.text(input.note, "note", max: 2_000, multiline: true)
    return checker.violations
  }

  /// Whether two costs agree in every field RecordCost stores from a request. Its `cost_id` and
  /// `created_at` are the server's: a client that writes back a cost it read sends them too.
  /// Texts compare by their bytes, as the database does: Swift's `==` calls "café" in its two
  /// Unicode forms one text, where they are two campaigns (or notes) to PostgreSQL.
  static func sameStoredFields(_ stored: Tally_V1_Cost, _ sent: Tally_V1_Cost) -> Bool {
    let texts = [
      (stored.key, sent.key), (stored.campaignID, sent.campaignID), (stored.date, sent.date),
      (stored.category, sent.category), (stored.note, sent.note),
    ]
    return stored.amount == sent.amount && texts.allSatisfy { ExactID($0) == ExactID($1) }
  }

  /// A violation on `field` unless `text` is a day `day` takes: a cost's date, or a listing's bound.
  static func checkDay(_ text: String, _ field: String, _ checker: inout FieldChecker) {
    guard day(text) == nil else { return }
    checker.add(field, "must be a real day written YYYY-MM-DD, 1900-01-01 to 2199-12-31, got \"\(text.prefix(40))\"")
  }

  /// Days since 1970-01-01 of a real calendar day written YYYY-MM-DD (1900 to 2199).
  static func day(_ text: String) -> Int64? {
    CivilDay(calendarDate: text, years: 1900...2199).map { Int64($0.dayNumber) }
  }

  static func message(_ row: PostgresRow) throws -> Tally_V1_Cost {
    var cost = Tally_V1_Cost()
    cost.costID = try row.require(String.self, "cost_id")
    cost.key = try row.decode(String.self, "key") ?? ""
    cost.campaignID = try row.decode(String.self, "campaign_id") ?? ""
    cost.date = try row.require(String.self, "cost_date")
    cost.amount = try row.require(Int64.self, "amount")
    cost.category = try row.require(String.self, "category")
    cost.note = try row.decode(String.self, "note") ?? ""
    cost.createdAt = Micros.timestamp(try row.require(Int64.self, "created_at"))
    return cost
  }
}
