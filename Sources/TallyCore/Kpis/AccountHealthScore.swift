import Foundation
import TallyProto
import TallyStore
import TallyWire

/// GetAccountHealth: each customer account scored 0 to 100 from three parts, each shown with what
/// it read: its contacts' latest NPS answers, its engagement trend, and how long its support
/// questions stay open.
enum AccountHealthScore {
  static let npsWeight = 40.0
  static let engagementWeight = 30.0
  static let supportWeight = 30.0
  /// The engagement trend compares the score with the score this many days before.
  static let trendDays = 30
  /// Support questions of this many days count.
  static let supportDays = 90
  /// Questions open this many hours on average score 0; answered at once, 100.
  static let supportHoursForZero = 168.0

  /// Customers at $1 that the tier ($2) and account ($3) filters keep.
  static let customersSQL = """
    SELECT a.account_id, a.name, a.tier FROM accounts a
    WHERE \(Journey.isCustomer)
      AND \(KpiSQL.accountFilter("a.account_id", tiers: "$2", accounts: "$3"))
    """

  /// Per account of $2: the mean of each contact's latest NPS score before $1, from the surveys
  /// that keep identities. A contact deleted since is left out (docs/SURVEYS.md): its answers name
  /// nobody, and several rounds' answers would count as several people.
  static let npsSQL = """
    SELECT latest.account_id, avg(latest.score)::float8 AS nps, count(*) AS contacts
    FROM (
      SELECT DISTINCT ON (i.account_id, i.contact_id) i.account_id, r.score
      FROM survey_response_identities i JOIN survey_responses r ON r.response_id = i.response_id
        JOIN surveys s ON s.survey_id = r.survey_id
      WHERE s.kind = 'nps' AND r.score IS NOT NULL AND i.answered_at < \(Journey.asOfTime)
        AND i.account_id = ANY($2::text[]) AND i.contact_id IS NOT NULL
      ORDER BY i.account_id, i.contact_id, i.answered_at DESC
    ) latest
    GROUP BY latest.account_id
    """

  /// The first instant of the support window: `supportDays` before $1.
  static let supportSince = "(($1::date - \(Self.supportDays))::timestamp AT TIME ZONE 'UTC')"

  /// Support questions and answers (`e`) of the accounts of $2.
  static let supportOfAccounts = "e.type IN ('support_question', 'support_answered') AND e.account_id = ANY($2::text[])"

  /// Support questions and answers of the accounts of $2 in the window before $1, in time order (a
  /// question before an answer of the same instant).
  static let supportSQL = """
    SELECT e.account_id, e.type = 'support_question' AS question, extract(epoch FROM e.occurred_at)::float8 AS at
    FROM events e
    WHERE \(Self.supportOfAccounts) AND e.occurred_at >= \(Self.supportSince) AND e.occurred_at < \(Journey.asOfTime)
    ORDER BY e.account_id, e.occurred_at, e.type DESC
    """

  /// Per account of $2, the questions asked before the window that are still open when it starts
  /// (the window's first answers close them). An answer closes the oldest open question, or nothing
  /// when none is open, so the count is the running total of +1 per question and −1 per answer less
  /// its lowest point below zero: one row per account reaches Swift, however long the history.
  static let supportOpenBeforeSQL = """
    SELECT steps.account_id, (sum(steps.step) - least(min(steps.running), 0))::int8 AS open
    FROM (
      SELECT e.account_id, s.step,
        sum(s.step) OVER (PARTITION BY e.account_id ORDER BY e.occurred_at, e.type DESC ROWS UNBOUNDED PRECEDING) AS running
      FROM events e CROSS JOIN LATERAL (SELECT CASE e.type WHEN 'support_question' THEN 1 ELSE -1 END AS step) s
      WHERE \(Self.supportOfAccounts) AND e.occurred_at < \(Self.supportSince)
    ) steps
    GROUP BY steps.account_id
    """

  static func health(
    _ request: Tally_V1_GetAccountHealthRequest, settings: KpiSettings, today: CivilDay,
    _ connection: PostgresConnection
  ) throws -> Tally_V1_GetAccountHealthResponse {
    var limit = AccountEngagement.defaultLimit
    let (asOf, filter) = try AccountEngagement.validate(request.asOf, request.filter, today: today) {
      limit = AccountEngagement.limit(request.limit, &$0)
    }
    let filters = filter.sqlParameters
    var accounts = try connection.query(Self.customersSQL, [asOf.description, filters[2], filters[3]]).rows.map { row in
      var account = Tally_V1_AccountHealth()
      account.accountID = try row.require(String.self, "account_id")
      account.name = try row.require(String.self, "name")
      account.tier = UInt32(try row.require(Int.self, "tier"))
      return account
    }
    let ids = PostgresArray.literal(accounts.map(\.accountID))
    var nps: [ExactID: (score: Double, contacts: Int)] = [:]
    for row in try connection.query(Self.npsSQL, [asOf.description, ids]).rows {
      nps[ExactID(try row.require(String.self, "account_id"))] = (
        try row.require(Double.self, "nps"), try row.require(Int.self, "contacts")
      )
    }
    var support: [ExactID: [(question: Bool, at: Double)]] = [:]
    for row in try connection.query(Self.supportSQL, [asOf.description, ids]).rows {
      support[ExactID(try row.require(String.self, "account_id")), default: []].append(
        (try row.require(Bool.self, "question"), try row.require(Double.self, "at")))
    }
    var openBefore: [ExactID: Int] = [:]
    for row in try connection.query(Self.supportOpenBeforeSQL, [asOf.description, ids]).rows {
      openBefore[ExactID(try row.require(String.self, "account_id"))] = try row.require(Int.self, "open")
    }
    // Only the customers' scores are needed: they already passed the tier and account filters.
    var customers = filter
    customers.accountIDs = accounts.map(\.accountID)
    let now = try Self.scores(asOf, customers, settings, connection)
    let before = try Self.scores(CivilDay(dayNumber: asOf.dayNumber - Self.trendDays), customers, settings, connection)
    let asOfSeconds = Double(asOf.dayNumber) * 86_400
    // A question still open counts until as_of, or until now while as_of (tomorrow by default) is
    // still ahead: hours that have not passed are no one's wait.
    let openUntil = min(asOfSeconds, Date().timeIntervalSince1970)
    for index in accounts.indices {
      let id = ExactID(accounts[index].accountID)
      if let answers = nps[id] {
        accounts[index].latestNps = answers.score
        accounts[index].npsContacts = UInt64(answers.contacts)
      }
      accounts[index].engagementScore = now[id] ?? 0
      accounts[index].engagementScoreBefore = before[id] ?? 0
      Self.addSupport(
        support[id] ?? [], openBefore: openBefore[id] ?? 0, since: asOfSeconds - Double(Self.supportDays * 86_400),
        openUntil: openUntil, to: &accounts[index])
      Self.score(&accounts[index])
    }
    var response = Tally_V1_GetAccountHealthResponse()
    response.asOf = asOf.description
    response.accounts = Array(Self.ranked(accounts).prefix(limit))
    return response
  }

  /// Least healthy first, then account id by bytes (look-alike ids are two accounts).
  static func ranked(_ accounts: [Tally_V1_AccountHealth]) -> [Tally_V1_AccountHealth] {
    accounts.sorted { ($0.health, ExactID($0.accountID)) < ($1.health, ExactID($1.accountID)) }
  }

  static func scores(
    _ asOf: CivilDay, _ filter: KpiFilterSpec, _ settings: KpiSettings, _ connection: PostgresConnection
  ) throws -> [ExactID: Double] {
    try AccountEngagement.totals([asOf.description], filter, targetsOnly: false, settings: settings, connection)
  }

  /// Answers close the oldest open question first, whenever it was asked: the `openBefore` questions
  /// still open from before `events` first. The questions asked since `since` count, and one still
  /// open counts until `openUntil`.
  static func addSupport(
    _ events: [(question: Bool, at: Double)], openBefore: Int = 0, since: Double, openUntil: Double,
    to account: inout Tally_V1_AccountHealth
  ) {
    // The open questions are `asked[oldestOpen...]`: an index, not `removeFirst()`, which moves
    // the rest each time (a million answers took minutes of a pool thread).
    var asked: [Double] = []
    var oldestOpen = 0
    var openBefore = openBefore
    var hours = 0.0
    for event in events {
      if event.question {
        asked.append(event.at)
        if event.at >= since { account.supportQuestions += 1 }
      } else if openBefore > 0 {
        openBefore -= 1
      } else if oldestOpen < asked.count {
        if asked[oldestOpen] >= since { hours += (event.at - asked[oldestOpen]) / 3_600 }
        oldestOpen += 1
      }
    }
    let open = asked[oldestOpen...].filter { $0 >= since }
    hours += open.map { max(openUntil - $0, 0) / 3_600 }.reduce(0, +)
    account.supportOpen = UInt64(open.count)
    if account.supportQuestions > 0 { account.supportOpenHours = hours / Double(account.supportQuestions) }
  }

  /// The parts and the weighted score. Engagement: 50 when flat, 100 when all of it is new, 0 when it
  /// is gone (or there is none); NPS: the mean latest answer × 10; support: 100 less the share of
  /// a week that questions stay open.
  static func score(_ account: inout Tally_V1_AccountHealth) {
    var nps = Tally_V1_HealthPart()
    nps.name = "nps"
    nps.weight = Self.npsWeight
    if account.hasLatestNps {
      nps.score = account.latestNps * 10
      let contacts = account.npsContacts == 1 ? "1 contact" : "\(account.npsContacts) contacts"
      nps.detail = "latest answers of \(contacts): \(Self.decimal(account.latestNps)) of 10"
    } else {
      nps.detail = "no NPS answer yet"
    }
    var engagement = Tally_V1_HealthPart()
    engagement.name = "engagement"
    engagement.weight = Self.engagementWeight
    let (current, earlier) = (account.engagementScore, account.engagementScoreBefore)
    let larger = max(current, earlier)
    engagement.score = larger > 0 ? 50 + 50 * (current - earlier) / larger : 0
    engagement.detail = "score \(Self.decimal(current)), \(Self.decimal(earlier)) \(Self.trendDays) days before"
    var support = Tally_V1_HealthPart()
    support.name = "support"
    support.weight = Self.supportWeight
    support.score = 100 * max(0, 1 - account.supportOpenHours / Self.supportHoursForZero)
    support.detail =
      account.supportQuestions == 0
      ? "no support question in \(Self.supportDays) days"
      : "\(account.supportQuestions) question\(account.supportQuestions == 1 ? "" : "s") in \(Self.supportDays) days, "
        + "\(account.supportOpen) open, "
        + "\(Self.decimal(account.supportOpenHours)) hours open on average"
    account.parts = [nps, engagement, support]
    let scored = account.parts.filter(\.hasScore)
    account.health = scored.map { $0.weight * $0.score }.reduce(0, +) / scored.map(\.weight).reduce(0, +)
  }

  static func decimal(_ value: Double) -> String { String(format: "%.1f", value) }
}
