import Foundation

/// Every KPI of the catalogue computed in Swift from the fixture's rows, period by period, as
/// docs/KPIS.md defines it: what the server's SQL must agree with.
struct KpiReference {
  struct Filter {
    var campaigns: Set<String>?
    var channels: Set<String>?
    var tiers: Set<Int>?
    var accounts: Set<String>?

    var filtersAccounts: Bool { self.tiers != nil || self.accounts != nil }
  }

  /// A numerator and, for ratios, a denominator.
  struct Measure: Equatable {
    var numerator: Double
    var denominator: Double?
  }

  let fixture: KpiFixture
  let filter: Filter
  /// Today's UTC day number: KPIs that divide by days count a period's days only so far.
  static var today: Int { Int((Date().timeIntervalSince1970 / 86_400).rounded(.down)) }
  /// The tenant's engagement weights (marketing-qualified accounts); the other settings are defaults.
  var weights: [String: Double] = [:]

  func campaignMatches(_ campaign: String?) -> Bool {
    if let campaigns = filter.campaigns, !campaigns.contains(campaign ?? "") { return false }
    if let channels = filter.channels, !channels.contains(KpiFixture.channels[campaign ?? ""] ?? "-") { return false }
    return true
  }

  func accountMatches(_ account: String?) -> Bool {
    if let tiers = filter.tiers, !tiers.contains(fixture.accountTiers[account ?? ""] ?? -1) { return false }
    if let accounts = filter.accounts, !accounts.contains(account ?? "") { return false }
    return true
  }

  /// Accounts of the filtered campaigns' target lists; nil without a campaign or channel filter.
  var campaignAccounts: Set<String>? {
    guard filter.campaigns != nil || filter.channels != nil else { return nil }
    return Set(fixture.campaignTargets.filter { self.campaignMatches($0.key) }.values.joined())
  }

  /// Target accounts: each account's tier never changed, so these hold in every period.
  var targets: Set<String> {
    Set(fixture.accountTiers.filter { $0.value > 0 && self.accountMatches($0.key) }.keys)
      .intersection(self.campaignAccounts ?? Set(fixture.accountTiers.keys))
  }

  func events(_ from: Int, _ to: Int, _ types: [String]) -> [KpiFixture.Event] {
    fixture.events.filter {
      $0.day >= from && $0.day < to && types.contains($0.type) && self.campaignMatches($0.campaign)
        && self.accountMatches($0.account)
    }
  }

  func people(_ from: Int, _ to: Int, _ types: [String]) -> Double {
    Double(Set(self.events(from, to, types).compactMap(\.contact)).count)
  }

  func count(_ from: Int, _ to: Int, _ types: [String]) -> Double { Double(self.events(from, to, types).count) }

  func contacts(_ from: Int, _ to: Int, _ types: [String]) -> Set<String> {
    Set(self.events(from, to, types).compactMap(\.contact))
  }

  /// Contacts sent an email none of which bounced, or who opened, clicked or replied.
  func delivered(_ from: Int, _ to: Int) -> Double {
    let engaged = self.contacts(from, to, ["email_opened", "email_clicked", "email_replied"])
    let bounced = self.contacts(from, to, ["email_bounced"]).subtracting(engaged)
    return Double(self.contacts(from, to, ["email_sent"]).subtracting(bounced).count)
  }

  /// Contacts of `types` who were sent an email in the period: a delivered rate's numerator.
  func sentAnd(_ from: Int, _ to: Int, _ types: [String]) -> Double {
    Double(self.contacts(from, to, types).intersection(self.contacts(from, to, ["email_sent"])).count)
  }

  func opportunities(_ from: Int, _ to: Int, closed: Bool, _ statuses: Set<String>) -> [KpiFixture.Opportunity] {
    fixture.opportunities.filter { opportunity in
      guard let time = closed ? opportunity.closed : opportunity.created else { return false }
      return time >= from * 86_400 && time < to * 86_400 && statuses.contains(opportunity.status)
        && self.accountMatches(opportunity.account)
        && (self.campaignAccounts?.contains(opportunity.account) ?? true)
    }
  }

  func measure(_ name: String, _ from: Int, _ to: Int) -> Measure? {
    let all: Set<String> = ["open", "won", "lost"]
    switch name {
    case "email_open_rate":
      return Measure(numerator: sentAnd(from, to, ["email_opened"]), denominator: delivered(from, to))
    case "email_click_through_rate":
      return Measure(numerator: sentAnd(from, to, ["email_clicked"]), denominator: delivered(from, to))
    case "email_click_to_open_rate":
      return Measure(numerator: people(from, to, ["email_clicked"]), denominator: people(from, to, ["email_opened"]))
    case "email_reply_rate":
      return Measure(numerator: sentAnd(from, to, ["email_replied"]), denominator: delivered(from, to))
    case "content_engagement_minutes":
      let seconds = events(from, to, ["content_view", "web_visit"]).reduce(0) { $0 + $1.seconds }
      return Measure(numerator: Double(seconds) / 60, denominator: nil)
    case "account_engagement_rate":
      let engaged = Set(events(from, to, Self.engagementTypes).compactMap(\.account)).intersection(targets)
      return Measure(numerator: Double(engaged.count), denominator: Double(targets.count))
    case "ad_engagement_rate":
      return Measure(numerator: count(from, to, ["ad_click"]), denominator: count(from, to, ["ad_impression"]))
    case "web_visits_from_target_accounts":
      return Measure(
        numerator: Double(events(from, to, ["web_visit"]).filter { targets.contains($0.account ?? "") }.count),
        denominator: nil)
    case "event_attendance_rate":
      return Measure(numerator: count(from, to, ["event_attended"]), denominator: count(from, to, ["event_registered"]))
    case "social_engagements":
      return Measure(
        numerator: Double(events(from, to, ["social_engagement"]).filter { targets.contains($0.account ?? "") }.count),
        denominator: nil)
    case "form_fill_rate":
      return Measure(numerator: count(from, to, ["form_submitted"]), denominator: count(from, to, ["form_view"]))
    case "form_fills": return Measure(numerator: count(from, to, ["form_submitted"]), denominator: nil)
    case "form_fillers": return Measure(numerator: people(from, to, ["form_submitted"]), denominator: nil)
    case "web_visitors_from_target_accounts":
      let visitors = events(from, to, ["web_visit"]).filter { targets.contains($0.account ?? "") }.compactMap(\.contact)
      return Measure(numerator: Double(Set(visitors).count), denominator: nil)
    case "accounts_with_meetings":
      return Measure(
        numerator: Double(Set(events(from, to, ["meeting_scheduled"]).compactMap(\.account)).count), denominator: nil)
    case "conversion_rate":
      let engagements = events(from, to, Self.engagementTypes).filter { $0.account != nil }
      let conversions = engagements.filter {
        ["form_submitted", "cta_converted", "meeting_scheduled"].contains($0.type)
      }
      return Measure(numerator: Double(conversions.count), denominator: Double(engagements.count))
    case "cta_conversion_rate":
      return Measure(numerator: count(from, to, ["cta_converted"]), denominator: count(from, to, ["cta_view"]))
    case "meetings_scheduled": return Measure(numerator: count(from, to, ["meeting_scheduled"]), denominator: nil)
    case "conversation_to_meeting_rate", "meetings_per_conversation":
      return Measure(numerator: count(from, to, ["meeting_scheduled"]), denominator: count(from, to, ["conversation"]))
    case "meaningful_conversations": return Measure(numerator: count(from, to, ["conversation"]), denominator: nil)
    case "account_to_opportunity_rate":
      let opened = Set(opportunities(from, to, closed: false, all).map(\.account)).intersection(targets)
      return Measure(numerator: Double(opened.count), denominator: Double(targets.count))
    case "program_reach":
      let listed = Set(fixture.campaignTargets.filter { campaignMatches($0.key) }.values.joined())
      let reached = Set(
        events(from, to, Self.successTypes).filter { event in
          fixture.campaignTargets[event.campaign ?? ""]?.contains(event.account ?? "") ?? false
        }.compactMap(\.account)
      ).intersection(targets)
      return Measure(numerator: Double(reached.count), denominator: Double(targets.intersection(listed).count))
    case "program_focus":
      let successes = events(from, to, Self.successTypes).filter { $0.campaign != nil }
      let fromTargets = successes.filter { targets.contains($0.account ?? "") }
      return Measure(numerator: Double(fromTargets.count), denominator: Double(successes.count))
    case "account_coverage":
      let covered = targets.filter { account in
        let contacts = KpiFixture.contacts.filter { $0.value == account }.map(\.key)
        return contacts.count >= 3 && contacts.contains { KpiFixture.decisionMakers.contains($0) }
      }
      return Measure(numerator: Double(covered.count), denominator: Double(targets.count))
    case "contacts_per_target_account":
      let contacts = KpiFixture.contacts.values.filter { targets.contains($0) }.count
      return Measure(numerator: Double(contacts), denominator: Double(targets.count))
    case "data_completeness":
      // Targets have their tier filled: the fifth field.
      let filled = targets.map { (KpiFixture.filledFields[$0] ?? 0) + 1 }.reduce(0, +)
      return Measure(numerator: Double(filled), denominator: Double(5 * targets.count))
    case "acv", "tam":
      let won = opportunities(from, to, closed: true, ["won"])
      let acv = won.reduce(0.0) { $0 + Double($1.amount) * 12 / Double(KpiFixture.contractMonths[$1.id] ?? 12) }
      // The period's targets are in it too (here every target's tier is its tier now).
      let icp = fixture.accountTiers.filter {
        ($0.value > 0 || KpiFixture.icpOnly.contains($0.key) || targets.contains($0.key)) && accountMatches($0.key)
      }
      return Measure(numerator: name == "acv" ? acv : acv * Double(icp.count), denominator: Double(won.count))
    case "logo_retention_rate", "net_revenue_retention":
      let accounts = fixture.accountTiers.keys.filter { accountMatches($0) && (campaignAccounts?.contains($0) ?? true) }
      let atStart = accounts.filter { customer($0, at: from) }
      if name == "net_revenue_retention" {
        // ARR never changed after it was recorded: a customer keeps its ARR until it churns.
        let start = atStart.map { KpiFixture.customers[$0]!.arr }.reduce(0, +)
        let end = atStart.filter { customer($0, at: to) }.map { KpiFixture.customers[$0]!.arr }.reduce(0, +)
        return Measure(numerator: Double(end), denominator: Double(start))
      }
      let atEnd = accounts.filter { customer($0, at: to) }
      let new = atEnd.filter { KpiFixture.day(KpiFixture.customers[$0]!.since) >= from }
      return Measure(numerator: Double(atEnd.count - new.count), denominator: Double(atStart.count))
    case "expansion_revenue":
      let won = opportunities(from, to, closed: true, ["won"]).filter { deal in
        deal.type == "expansion"
          && KpiFixture.customers[deal.account].map { customer in
            KpiFixture.day(customer.since) * 86_400 < deal.closed!
              && customer.churned.map { KpiFixture.day($0) * 86_400 >= deal.closed! } ?? true
          } == true
      }
      return Measure(numerator: Double(won.reduce(0) { $0 + $1.amount }), denominator: nil)
    case "opportunities_created":
      return Measure(numerator: Double(opportunities(from, to, closed: false, all).count), denominator: nil)
    case "pipeline_created":
      return Measure(
        numerator: Double(opportunities(from, to, closed: false, all).reduce(0) { $0 + $1.amount }), denominator: nil)
    case "revenue_created":
      return Measure(
        numerator: Double(opportunities(from, to, closed: true, ["won"]).reduce(0) { $0 + $1.amount }), denominator: nil
      )
    case "win_rate":
      let closed = opportunities(from, to, closed: true, ["won", "lost"])
      return Measure(numerator: Double(closed.filter { $0.status == "won" }.count), denominator: Double(closed.count))
    case "average_deal_size":
      let won = opportunities(from, to, closed: true, ["won"])
      return Measure(numerator: Double(won.reduce(0) { $0 + $1.amount }), denominator: Double(won.count))
    case "sales_cycle_days":
      let won = opportunities(from, to, closed: true, ["won"])
      let days = won.reduce(0.0) { $0 + Double($1.closed! - $1.created) / 86_400 }
      return Measure(numerator: days, denominator: Double(won.count))
    case "cac", "cac_fully_loaded":
      let categories =
        ["media", "content", "tools", "people", "other"] + (name == "cac" ? [] : ["onboarding", "support"])
      let cost = fixture.costs.filter {
        $0.day >= from && $0.day < to && categories.contains($0.category)
          && (filter.campaigns == nil && filter.channels == nil || self.campaignMatches($0.campaign))
      }.reduce(0) { $0 + $1.amount }
      let customers = Set(
        opportunities(from, to, closed: true, ["won"]).filter { $0.type == "new_business" }.map(\.account))
      return Measure(numerator: Double(cost), denominator: Double(customers.count))
    default: return self.revenueMeasure(name, from, to)
    }
  }

  /// Engagement events of a deal's account with a campaign, up to 90 days before its creation day
  /// (that day included); only the filtered campaigns' when `filtered`.
  func touches(_ deal: KpiFixture.Opportunity, filtered: Bool) -> [KpiFixture.Event] {
    let day = deal.created / 86_400
    return fixture.events.filter {
      $0.account == deal.account && $0.campaign != nil && Self.engagementTypes.contains($0.type) && $0.day <= day
        && $0.day >= day - 90 && (!filtered || self.campaignMatches($0.campaign))
    }
  }

  /// A customer just before midnight of `day`: since before it, churned (if ever) at or after it.
  func customer(_ account: String, at day: Int) -> Bool {
    guard let customer = KpiFixture.customers[account] else { return false }
    return KpiFixture.day(customer.since) < day && (customer.churned.map { KpiFixture.day($0) >= day } ?? true)
  }

  /// The KPIs that follow touches into deals, the sales-side ones, and marketing-qualified accounts.
  func revenueMeasure(_ name: String, _ from: Int, _ to: Int) -> Measure? {
    let (start, end) = (from * 86_400, to * 86_400)
    let deals = fixture.opportunities.filter { self.accountMatches($0.account) }
    switch name {
    case "influenced_pipeline", "influenced_pipeline_share":
      let created = deals.filter { $0.created >= start && $0.created < end }
      let influenced = created.filter { !touches($0, filtered: true).isEmpty }
      let amount = Double(influenced.reduce(0) { $0 + $1.amount })
      return name == "influenced_pipeline"
        ? Measure(numerator: amount, denominator: nil)
        : Measure(numerator: amount, denominator: Double(created.reduce(0) { $0 + $1.amount }))
    case "influenced_accounts_share":
      let influenced = deals.filter { $0.created >= start && $0.created < end && !touches($0, filtered: true).isEmpty }
      // The period's targets are in it too (here every target's tier is its tier now).
      let icp = fixture.accountTiers.filter {
        ($0.value > 0 || KpiFixture.icpOnly.contains($0.key) || targets.contains($0.key)) && accountMatches($0.key)
      }
      return Measure(
        numerator: Double(Set(influenced.map(\.account)).intersection(targets).count), denominator: Double(icp.count))
    case "attributed_revenue", "roi":
      let won = deals.filter { $0.status == "won" && $0.closed! >= start && $0.closed! < end }
      let attributed = won.reduce(0.0) { sum, deal in
        let total = touches(deal, filtered: false).count
        return total == 0
          ? sum : sum + Double(deal.amount) * Double(touches(deal, filtered: true).count) / Double(total)
      }
      guard name == "roi" else { return Measure(numerator: attributed, denominator: nil) }
      let cost = fixture.costs.filter {
        $0.day >= from && $0.day < to && !["onboarding", "support"].contains($0.category)
          && (filter.campaigns == nil && filter.channels == nil || self.campaignMatches($0.campaign))
      }.reduce(0) { $0 + $1.amount }
      return Measure(numerator: attributed - Double(cost), denominator: Double(cost))
    case "pipeline_velocity":
      let scoped = deals.filter { campaignAccounts?.contains($0.account) ?? true }
      let open = scoped.filter { $0.created < end && ($0.status == "open" || $0.closed! >= end) }.count
      let closed = scoped.filter { $0.status != "open" && $0.closed! >= start && $0.closed! < end }
      let won = closed.filter { $0.status == "won" }
      guard !won.isEmpty else { return Measure(numerator: 0, denominator: 0) }
      let amount = Double(won.reduce(0) { $0 + $1.amount })
      let days = won.reduce(0.0) { $0 + Double($1.closed! - $1.created) / 86_400 }
      return Measure(
        numerator: Double(open) * amount / Double(closed.count), denominator: days / Double(won.count))
    case "clv":
      guard let acv = self.measure("acv", from, to) else { return nil }
      let accounts = fixture.accountTiers.keys.filter { accountMatches($0) && (campaignAccounts?.contains($0) ?? true) }
      let customers = accounts.filter { customer($0, at: from) }
      let churned = customers.filter { !customer($0, at: to) }.count
      guard !customers.isEmpty else { return Measure(numerator: 0, denominator: 0) }
      let days = max(1, min(to, Self.today + 1) - from)
      let lifetime = churned == 0 ? 10 : min(10, Double(customers.count * days) / Double(churned * 365))
      return Measure(numerator: acv.numerator * lifetime, denominator: acv.denominator)
    case "accepted_accounts_per_1000":
      let accepted = fixture.opportunities.filter { deal in
        guard let day = KpiFixture.acceptedAt[deal.id].map(KpiFixture.day) else { return false }
        return day >= from && day < to
      }
      return Measure(
        numerator: 1_000 * Double(Set(accepted.map(\.account)).intersection(targets).count),
        denominator: Double(targets.count))
    case "activities_per_rep_per_day":
      let activities = events(from, to, ["call_dialed", "sales_email", "task_completed"]).filter { $0.rep != nil }
      // Day 0, 1970-01-01, was a Thursday: (day + 3) % 7 counts from Monday.
      // Only the days begun: a period not yet over had no activity on its later days.
      let workingDays = (from..<max(from, min(to, Self.today + 1))).filter { ($0 + 3) % 7 < 5 }.count
      return Measure(
        numerator: Double(activities.count), denominator: Double(Set(activities.compactMap(\.rep)).count * workingDays))
    case "marketing_qualified_accounts":
      let campaigns: Set<String>? =
        filter.campaigns != nil || filter.channels != nil
        ? Set(["e1", "ad1", "gone"].filter { self.campaignMatches($0) }) : nil
      let scores = AccountEngagementTests.reference(
        fixture, asOf: to, halfLife: 30, weights: weights, roleMultiplier: 1, tierMultipliers: [:],
        campaigns: campaigns)
      return Measure(
        numerator: Double(scores.filter { $0.value.score >= 100 && accountMatches($0.key) }.count), denominator: nil)
    default: return nil
    }
  }

  static let successTypes = ["event_attended", "email_clicked", "ad_click", "email_replied", "form_submitted"]

  static let engagementTypes = [
    "email_opened", "email_clicked", "email_replied", "ad_click", "web_visit", "content_view", "content_download",
    "content_share", "form_submitted", "cta_converted", "event_registered", "event_attended", "social_engagement",
    "meeting_scheduled", "meeting_held",
  ]
}
