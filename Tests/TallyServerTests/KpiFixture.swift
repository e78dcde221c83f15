import Foundation
import SwiftProtobuf
import TallyClient
import TallyProto
import TallyWire

/// A small deterministic ABM data set, and every KPI computed from its rows in Swift: the
/// reference the server's SQL is checked against (not the same SQL run twice).
struct KpiFixture {
  struct Event {
    var key: String
    var day: Int  // days since 1970-01-01
    var second: Int  // second of the day
    var type: String
    var account: String?
    var contact: String?
    var campaign: String?
    var seconds: Int

    /// CTA events name one of three CTAs, content views one of two documents.
    var asset: String? {
      guard self.type.hasPrefix("cta_") || self.type == "content_view", let number = Int(self.key.dropFirst()) else {
        return nil
      }
      return self.type == "content_view" ? "doc-\(number % 2)" : "cta-\(number % 3)"
    }
    /// Three of four completed tasks name one of three reps.
    var rep: String? {
      guard self.type == "task_completed", let number = Int(self.key.dropFirst()), number % 4 != 0 else { return nil }
      return "rep-\(number % 3)"
    }
  }

  struct Opportunity {
    var id: String
    var account: String
    var amount: Int64
    var status: String
    var type: String
    var created: Int  // seconds since the epoch
    var closed: Int?
  }

  struct Cost {
    var key: String
    var campaign: String?
    var day: Int
    var amount: Int64
    var category: String
  }

  static let tiers = ["a1": 1, "a2": 2, "a3": 0, "a4": 3]
  static let contacts = [
    "c1": "a1", "c2": "a1", "c3": "a2", "c4": "a3", "c5": "a4", "c6": "a1", "c7": "a1", "c8": "a2",
  ]
  /// Every other contact is a champion.
  static let decisionMakers: Set<String> = ["c6", "c8"]
  /// Required fields filled per account (industry, size, revenue, owner; tier aside).
  static let filledFields = ["a1": 4, "a2": 1, "a3": 2, "a4": 0]
  /// On the ideal-customer list without being a target.
  static let icpOnly: Set<String> = ["a3"]
  static let contractMonths = ["o1": 24, "o3": 6]
  /// When sales accepted the account of a deal.
  static let acceptedAt = ["o1": "2025-11-20", "o3": "2026-01-25", "o4": "2026-03-05", "o6": "2026-01-12"]
  /// Customers: since (day), churned (day), ARR.
  static let customers: [String: (since: String, churned: String?, arr: Int64)] = [
    "a1": ("2025-06-01", nil, 100_000), "a2": ("2026-02-01", nil, 50_000), "a4": ("2025-01-01", "2026-03-01", 30_000),
  ]
  static let channels = ["e1": "email", "ad1": "ads"]
  static let campaignTargets = ["e1": ["a1", "a2"], "ad1": ["a4"]]
  static let eventTypes = [
    "email_sent", "email_bounced", "email_opened", "email_clicked", "email_replied", "ad_impression", "ad_click",
    "web_visit", "content_view", "event_registered", "event_attended", "social_engagement", "form_view",
    "form_submitted", "cta_view", "cta_converted", "meeting_scheduled", "conversation", "task_completed",
  ]

  /// The accounts `load` stores, with their tiers: `tiers`, plus any a test adds.
  var accountTiers = Self.tiers
  /// The campaigns' target lists `load` stores: `campaignTargets`, plus any a test adds.
  var campaignTargets = Self.campaignTargets
  var events: [Event] = []
  var opportunities: [Opportunity] = []
  var costs: [Cost] = []

  /// Days from 2025-11-01 to 2026-03-31, `count` events from a seeded generator.
  init(count: Int, seed: UInt64) {
    var random = DemoRandom(seed)
    let firstDay = Self.day("2025-11-01")
    for index in 0..<count {
      let contact = random.pick([nil, "c1", "c2", "c3", "c4", "c5", "c9"])
      let account = contact.flatMap { Self.contacts[$0] } ?? random.pick([nil, "a1", "a3", "zz"])
      self.events.append(
        Event(
          key: "k\(index)", day: firstDay + random.next(151), second: random.next(86_400),
          type: random.pick(Self.eventTypes), account: account, contact: contact,
          campaign: random.pick([nil, "e1", "ad1", "gone"]), seconds: random.next(4) == 0 ? 0 : random.next(900)))
    }
    let t = { (day: String, hours: Int) in Self.day(day) * 86_400 + hours * 3_600 }
    self.opportunities = [
      Opportunity(
        id: "o1", account: "a1", amount: 50_000, status: "won", type: "new_business", created: t("2025-12-01", 9),
        closed: t("2026-01-20", 12)),
      Opportunity(
        id: "o2", account: "a2", amount: 20_000, status: "lost", type: "new_business", created: t("2026-01-05", 0),
        closed: t("2026-02-10", 0)),
      Opportunity(
        id: "o3", account: "a4", amount: 70_000, status: "won", type: "expansion", created: t("2026-02-01", 0),
        closed: t("2026-02-25", 6)),
      Opportunity(
        id: "o4", account: "a3", amount: 10_000, status: "open", type: "new_business", created: t("2026-03-02", 0),
        closed: nil),
      Opportunity(
        id: "o5", account: "a4", amount: 30_000, status: "won", type: "new_business", created: t("2025-10-10", 0),
        closed: t("2025-12-20", 0)),
      Opportunity(
        id: "o6", account: "a2", amount: 5_000, status: "won", type: "new_business", created: t("2026-01-10", 0),
        closed: t("2026-03-31", 23)),
    ]
    self.costs = [
      Cost(key: "m1", campaign: "e1", day: Self.day("2026-01-15"), amount: 9_000, category: "media"),
      Cost(key: "m2", campaign: "ad1", day: Self.day("2026-02-15"), amount: 4_000, category: "content"),
      Cost(key: "m3", campaign: nil, day: Self.day("2026-03-01"), amount: 2_500, category: "people"),
      Cost(key: "m4", campaign: "e1", day: Self.day("2026-03-10"), amount: 1_000, category: "onboarding"),
      Cost(key: "m5", campaign: nil, day: Self.day("2025-12-01"), amount: 3_000, category: "tools"),
    ]
  }

  static func day(_ iso: String) -> Int {
    Int(ISO8601DateFormatter().date(from: iso + "T00:00:00Z")!.timeIntervalSince1970) / 86_400
  }

  static func iso(_ day: Int) -> String {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withFullDate]
    return formatter.string(from: Date(timeIntervalSince1970: Double(day) * 86_400))
  }

  /// Adds a5, a tier-1 account on e1's target list with no contact and no event: the KPIs of
  /// target accounts must count it in their denominators and never as engaged or reached.
  mutating func addIdleTarget() {
    self.accountTiers["a5"] = 1
    self.campaignTargets["e1", default: []].append("a5")
  }

  /// Stores the accounts, contacts, campaigns, events, opportunities and costs through the API.
  func load(_ client: TallyClient) async throws {
    for (id, tier) in self.accountTiers.sorted(by: { $0.key < $1.key }) {
      var account = Fixture.account(id, tier: UInt32(tier))
      let filled = Self.filledFields[id] ?? 0
      if filled > 0 { account.industry = "software" }
      if filled > 1 { account.employeeCount = 250 }
      if filled > 2 { account.annualRevenue = 90_000_000 }
      if filled > 3 { account.owner = "sam" }
      account.inIcp = Self.icpOnly.contains(id)
      if let customer = Self.customers[id] {
        account.customerSince = Google_Protobuf_Timestamp(seconds: Int64(Self.day(customer.since) * 86_400))
        if let churned = customer.churned {
          account.churnedAt = Google_Protobuf_Timestamp(seconds: Int64(Self.day(churned) * 86_400))
        }
        account.arr = customer.arr
      }
      _ = try await client.unary(AccountMethods.upsertAccount, Fixture.upsert(account))
    }
    for (contact, account) in Self.contacts.sorted(by: { $0.key < $1.key }) {
      let role = Self.decisionMakers.contains(contact) ? "decision_maker" : "champion"
      _ = try await client.unary(
        AccountMethods.upsertContact, Fixture.upsert(Fixture.contact(contact, account: account, role: role)))
    }
    for (campaign, channel) in Self.channels.sorted(by: { $0.key < $1.key }) {
      _ = try await client.unary(
        CampaignMethods.upsertCampaign, Fixture.upsert(Fixture.campaign(campaign, channel: channel)))
      var targets = Tally_V1_SetCampaignTargetsRequest()
      targets.campaignID = campaign
      targets.add = self.campaignTargets[campaign] ?? []
      _ = try await client.unary(CampaignMethods.setCampaignTargets, targets)
    }
    let messages = self.events.map { event in
      var message = Tally_V1_Event()
      message.key = event.key
      message.occurredAt = Google_Protobuf_Timestamp(seconds: Int64(event.day * 86_400 + event.second))
      message.type = event.type
      message.accountID = event.account ?? ""
      message.contactID = event.contact ?? ""
      message.campaignID = event.campaign ?? ""
      message.durationSeconds = UInt32(event.seconds)
      message.assetID = event.asset ?? ""
      message.repID = event.rep ?? ""
      return message
    }
    // In three streams, the second one repeating part of the first: duplicates must not count twice.
    for batch in [
      Array(messages.prefix(messages.count / 2)), Array(messages[(messages.count / 3)...]), Array(messages.prefix(10)),
    ] {
      _ = try await client.clientStreaming(EventMethods.recordEvents) { writer in
        var request = Tally_V1_RecordEventsRequest()
        request.events = batch
        try await writer.send(request)
      }
    }
    for opportunity in self.opportunities {
      var message = Tally_V1_Opportunity()
      message.id = opportunity.id
      message.accountID = opportunity.account
      message.name = "Deal \(opportunity.id)"
      message.amount = opportunity.amount
      message.status = opportunity.status
      message.type = opportunity.type
      message.createdAt = Google_Protobuf_Timestamp(seconds: Int64(opportunity.created))
      if let closed = opportunity.closed { message.closedAt = Google_Protobuf_Timestamp(seconds: Int64(closed)) }
      if let months = Self.contractMonths[opportunity.id] { message.contractMonths = UInt32(months) }
      if let accepted = Self.acceptedAt[opportunity.id] {
        message.acceptedAt = Google_Protobuf_Timestamp(seconds: Int64(Self.day(accepted) * 86_400 + 3_600))
      }
      _ = try await client.unary(OpportunityMethods.upsertOpportunity, Fixture.upsert(message))
    }
    for cost in self.costs {
      var request = Tally_V1_RecordCostRequest()
      request.cost.key = cost.key
      request.cost.campaignID = cost.campaign ?? ""
      request.cost.date = Self.iso(cost.day)
      request.cost.amount = cost.amount
      request.cost.category = cost.category
      _ = try await client.unary(CampaignMethods.recordCost, request)
    }
  }
}
