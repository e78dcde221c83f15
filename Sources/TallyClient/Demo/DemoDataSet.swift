public import Foundation
import SwiftProtobuf
public import TallyProto

/// A realistic, deterministic ABM data set for a demo tenant: accounts in four tiers with
/// contacts, campaigns with targets and monthly costs, a year of engagement events that follow
/// the accounts' interest, and opportunities that the engaged accounts win more often.
/// The same `seed` and `today` give the same rows, so a second load changes nothing.
public struct DemoDataSet: Sendable {
  public var accounts: [Tally_V1_Account] = []
  public var contacts: [Tally_V1_Contact] = []
  public var campaigns: [Tally_V1_Campaign] = []
  public var campaignTargets: [String: [String]] = [:]
  public var costs: [Tally_V1_Cost] = []
  public var opportunities: [Tally_V1_Opportunity] = []
  public var events: [Tally_V1_Event] = []

  static let prefixes = ["North", "Blue", "Silver", "Bright", "Iron", "Green", "Summit", "Harbor", "Cedar", "Atlas"]
  static let suffixes = ["wind", "stone", "field", "bridge", "works", "point", "gate", "line", "peak", "haven"]
  static let kinds = ["Systems", "Labs", "Logistics", "Health", "Energy", "Foods", "Capital", "Robotics"]
  static let industries = ["software", "manufacturing", "healthcare", "retail", "finance", "logistics", "energy"]
  static let owners = ["alice", "bruno", "chen", "dana"]
  static let roles = ["decision_maker", "champion", "influencer", "user", "other"]
  static let channels: [(id: String, name: String, channel: String)] = [
    ("q-email-nurture", "Nurture emails", "email"), ("linkedin-ads", "LinkedIn ads", "ads"),
    ("ebook-2026", "State of ops e-book", "content"), ("webinar-series", "Webinar series", "webinar"),
    ("field-events", "Field events", "events"), ("website", "Website", "web"),
    ("sdr-outreach", "SDR outreach", "sales"), ("social", "Social", "social"),
  ]

  public init(accountCount: Int = 300, seed: UInt64 = 2026, today: Date = Date()) {
    var random = DemoRandom(seed)
    let todayDay = Int(today.timeIntervalSince1970 / 86_400)
    let time = { (day: Int, second: Int) in Google_Protobuf_Timestamp(seconds: Int64(day * 86_400 + second)) }
    for index in 1...accountCount {
      var account = Tally_V1_Account()
      account.id = String(format: "acct-%03d", index)
      account.name =
        "\(random.pick(Self.prefixes))\(random.pick(Self.suffixes)) \(random.pick(Self.kinds)) \(index)"
      account.domain = account.name.lowercased().split(separator: " ").prefix(2).joined(separator: "-") + ".example"
      account.tier = UInt32(
        index <= accountCount / 10 ? 1 : index <= accountCount / 4 ? 2 : index <= accountCount / 2 ? 3 : 0)
      account.inIcp = account.tier > 0 || random.next(10) < 4
      if random.next(10) < 8 { account.industry = random.pick(Self.industries) }
      if random.next(10) < 7 { account.employeeCount = Int64(50 + random.next(20_000)) }
      if random.next(10) < 6 { account.annualRevenue = Int64(1 + random.next(500)) * 100_000_000 }
      if random.next(10) < 8 { account.owner = random.pick(Self.owners) }
      if account.tier > 0, random.next(10) < 3 {
        account.customerSince = time(todayDay - 200 - random.next(500), 0)
        account.arr = Int64(20 + random.next(200)) * 100_000
        if random.next(10) == 0 { account.churnedAt = time(todayDay - random.next(150), 0) }
      }
      self.accounts.append(account)
      for person in 0..<(account.tier > 0 ? 2 + random.next(5) : 1 + random.next(2)) {
        var contact = Tally_V1_Contact()
        contact.id = "\(account.id)-p\(person + 1)"
        contact.accountID = account.id
        contact.name = "Person \(person + 1) of \(account.name)"
        contact.email = "p\(person + 1)@\(account.domain)"
        contact.role = person == 0 && random.next(3) > 0 ? "decision_maker" : random.pick(Self.roles)
        self.contacts.append(contact)
      }
    }
    let targets = self.accounts.filter { $0.tier > 0 }.map(\.id)
    for (id, name, channel) in Self.channels {
      var campaign = Tally_V1_Campaign()
      campaign.id = id
      campaign.name = name
      campaign.channel = channel
      campaign.startsAt = time(todayDay - 365, 0)
      campaign.budget = Int64(20 + random.next(80)) * 100_000
      self.campaigns.append(campaign)
      self.campaignTargets[id] = targets.filter { _ in random.next(3) > 0 }
      for month in 0..<12 {
        var cost = Tally_V1_Cost()
        cost.key = "demo-\(id)-\(month)"
        cost.campaignID = id
        cost.date = Self.isoDay(todayDay - 365 + month * 30)
        cost.amount = Int64(1 + random.next(20)) * 50_000
        cost.category = channel == "sales" ? "people" : channel == "content" ? "content" : "media"
        self.costs.append(cost)
      }
    }
    self.generateActivity(&random, todayDay: todayDay)
  }

  /// Events and opportunities: each account has an interest level (0 to 9). Every touch is a
  /// small funnel (sent → delivered → opened → clicked → replied, registered → attended, …) whose
  /// conversion grows with the interest; interested accounts also open and win more deals.
  mutating func generateActivity(_ random: inout DemoRandom, todayDay: Int) {
    let byAccount = Dictionary(grouping: self.contacts, by: \.accountID)
    var opportunityIndex = 0
    for (accountIndex, account) in self.accounts.enumerated() {
      let interest = account.tier == 0 ? random.next(3) : 2 + random.next(8)
      let people = byAccount[account.id] ?? []
      var touch = DemoTouch(account: account.id, people: people, interest: interest)
      touch.rep = "sdr-\(accountIndex % 4 + 1)"
      for index in 0..<(interest * (4 + random.next(10))) {
        touch.begin(index, day: todayDay - 1 - random.next(365), &random)
        switch random.next(7) {
        case 0: touch.email(&random)
        case 1: touch.ads(&random)
        case 2: touch.content(&random)
        case 3: touch.event(&random)
        case 4: touch.web(&random)
        case 5: touch.sales(&random)
        default: touch.emit("social_engagement", campaign: "social", &random)
        }
      }
      if account.hasCustomerSince { touch.support(&random, todayDay: todayDay) }
      self.events += touch.events
      guard interest >= 3, random.next(10) < interest else { continue }
      opportunityIndex += 1
      var opportunity = Tally_V1_Opportunity()
      opportunity.id = String(format: "opp-%04d", opportunityIndex)
      opportunity.accountID = account.id
      opportunity.name = "\(account.name) deal"
      opportunity.amount = Int64(10 + random.next(190)) * 100_000
      opportunity.type = account.hasCustomerSince ? "expansion" : "new_business"
      let created = todayDay - 30 - random.next(330)
      opportunity.createdAt = Google_Protobuf_Timestamp(seconds: Int64(created * 86_400))
      opportunity.contractMonths = UInt32([12, 24, 36][random.next(3)])
      // Sales accepted most accounts in the two weeks before the deal was opened.
      if random.next(4) > 0 {
        opportunity.acceptedAt = Google_Protobuf_Timestamp(
          seconds: Int64((created - random.next(14)) * 86_400 + 36_000))
      }
      let outcome = random.next(12)
      if outcome < interest {
        opportunity.status = "won"
      } else if outcome < interest + 3 {
        opportunity.status = "lost"
      } else {
        opportunity.status = "open"
      }
      if opportunity.status != "open" {
        let closed = min(todayDay - 1, created + 20 + random.next(120) - interest * 5)
        opportunity.closedAt = Google_Protobuf_Timestamp(seconds: Int64(max(closed, created) * 86_400 + 3_600))
      }
      self.opportunities.append(opportunity)
    }
  }

  static func isoDay(_ day: Int) -> String { ISODay.string(Date(timeIntervalSince1970: Double(day) * 86_400)) }
}

/// xorshift64: the same numbers on every machine, unlike the system generator.
public struct DemoRandom: Sendable {
  private var state: UInt64

  public init(_ seed: UInt64) { self.state = seed == 0 ? 0x9E37_79B9_7F4A_7C15 : seed }

  /// 0 ..< bound.
  public mutating func next(_ bound: Int) -> Int {
    self.state ^= self.state << 13
    self.state ^= self.state >> 7
    self.state ^= self.state << 17
    return Int(self.state % UInt64(max(bound, 1)))
  }

  public mutating func pick<T>(_ values: [T]) -> T { values[self.next(values.count)] }
}

/// The events of one account's touches, funnel by funnel.
struct DemoTouch {
  let account: String
  let people: [Tally_V1_Contact]
  let interest: Int
  var events: [Tally_V1_Event] = []
  /// The sales rep who works the account.
  var rep = ""
  private var prefix = ""
  private var second = 0
  private var contact = ""

  init(account: String, people: [Tally_V1_Contact], interest: Int) {
    (self.account, self.people, self.interest) = (account, people, interest)
  }

  /// A touch on `day`, by one of the account's people.
  mutating func begin(_ index: Int, day: Int, _ random: inout DemoRandom) {
    self.prefix = "demo-\(self.account)-\(index)"
    self.second = day * 86_400 + 28_800 + random.next(36_000)
    self.contact = self.people.isEmpty ? "" : random.pick(self.people).id
  }

  /// Whether a step happens: `base` percent plus `perInterest` per interest point.
  func chance(_ base: Int, _ perInterest: Int, _ random: inout DemoRandom) -> Bool {
    random.next(100) < base + perInterest * self.interest
  }

  mutating func emit(
    _ type: String, campaign: String, seconds: Int = 0, asset: String = "", person: Bool = true, rep: String = "",
    _ random: inout DemoRandom
  ) {
    var event = Tally_V1_Event()
    event.key = "\(self.prefix)-\(self.events.count)"
    event.type = type
    self.second += 60 + random.next(3_600)
    event.occurredAt = Google_Protobuf_Timestamp(seconds: Int64(self.second))
    event.accountID = self.account
    if person { event.contactID = self.contact }
    event.campaignID = campaign
    event.assetID = asset
    event.repID = rep
    if seconds > 0 { event.durationSeconds = UInt32(seconds / 2 + random.next(seconds)) }
    self.events.append(event)
  }

  mutating func email(_ random: inout DemoRandom) {
    guard !self.contact.isEmpty else { return }
    self.emit("email_sent", campaign: "q-email-nurture", &random)
    guard random.next(100) < 95 else { return self.emit("email_bounced", campaign: "q-email-nurture", &random) }
    self.emit("email_delivered", campaign: "q-email-nurture", &random)
    guard self.chance(20, 5, &random) else { return }
    self.emit("email_opened", campaign: "q-email-nurture", &random)
    if self.chance(25, 3, &random) { self.emit("email_clicked", campaign: "q-email-nurture", &random) }
    if self.chance(5, 2, &random) { self.emit("email_replied", campaign: "q-email-nurture", &random) }
  }

  mutating func ads(_ random: inout DemoRandom) {
    for _ in 0..<(3 + random.next(8)) {
      self.emit("ad_impression", campaign: "linkedin-ads", person: false, &random)
      if self.chance(3, 1, &random) { self.emit("ad_click", campaign: "linkedin-ads", person: false, &random) }
    }
  }

  mutating func content(_ random: inout DemoRandom) {
    self.emit("content_view", campaign: "ebook-2026", seconds: 300, asset: "ebook", &random)
    if self.chance(20, 4, &random) { self.emit("content_download", campaign: "ebook-2026", asset: "ebook", &random) }
  }

  mutating func event(_ random: inout DemoRandom) {
    guard !self.contact.isEmpty else { return }
    let campaign = random.next(2) == 0 ? "webinar-series" : "field-events"
    self.emit("event_registered", campaign: campaign, &random)
    if self.chance(40, 5, &random) { self.emit("event_attended", campaign: campaign, seconds: 3_000, &random) }
  }

  mutating func web(_ random: inout DemoRandom) {
    for _ in 0..<(1 + random.next(4)) { self.emit("web_visit", campaign: "website", seconds: 180, &random) }
    let cta = "cta-\(1 + random.next(3))"
    self.emit("cta_view", campaign: "website", asset: cta, &random)
    if self.chance(10, 3, &random) { self.emit("cta_converted", campaign: "website", asset: cta, &random) }
    guard self.chance(40, 2, &random) else { return }
    self.emit("form_view", campaign: "website", asset: "demo-form", &random)
    if self.chance(20, 4, &random) { self.emit("form_submitted", campaign: "website", asset: "demo-form", &random) }
  }

  mutating func sales(_ random: inout DemoRandom) {
    guard !self.contact.isEmpty else { return }
    self.emit("call_dialed", campaign: "sdr-outreach", rep: self.rep, &random)
    if self.chance(30, 2, &random) { self.emit("sales_email", campaign: "sdr-outreach", rep: self.rep, &random) }
    self.emit("conversation", campaign: "sdr-outreach", seconds: 900, rep: self.rep, &random)
    guard self.chance(20, 5, &random) else { return }
    self.emit("meeting_scheduled", campaign: "sdr-outreach", rep: self.rep, &random)
    self.emit("task_completed", campaign: "sdr-outreach", person: false, rep: self.rep, &random)
    if self.chance(70, 3, &random) { self.emit("meeting_held", campaign: "sdr-outreach", seconds: 2_400, &random) }
  }

  /// A customer's support questions of the last three months, most answered within two days.
  mutating func support(_ random: inout DemoRandom, todayDay: Int) {
    for question in 0..<random.next(4) {
      self.begin(10_000 + question, day: todayDay - 3 - random.next(87), &random)
      self.emit("support_question", campaign: "", &random)
      guard random.next(5) > 0 else { continue }
      self.second += random.next(48 * 3_600)
      self.emit("support_answered", campaign: "", &random)
    }
  }
}
