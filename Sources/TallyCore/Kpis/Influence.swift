import TallyProto
import TallyStore
import TallyWire

/// GetInfluence: do the most engaged accounts win more often, sooner and bigger? Each account with
/// a deal closed in the period is scored as of the day its first such deal was created: the
/// engagement that led to the deal, not what followed it.
enum Influence {
  /// Accounts with a deal closed (won or lost) in [$1, $13), with the creation day of the first.
  static let anchors = """
    SELECT o.account_id, min((o.created_at AT TIME ZONE 'UTC')::date) AS as_of
    FROM opportunities o
    WHERE o.status IN ('won', 'lost') AND \(KpiSQL.time("o.closed_at", from: "$1::date", to: "$13::date"))
    GROUP BY o.account_id
    """

  /// The deals closed in [$1, $2) of the accounts the filters $3 (tiers) and $4 (accounts) keep.
  static let dealsSQL = """
    SELECT o.account_id, o.status = 'won' AS won, o.amount,
      extract(epoch FROM o.closed_at - o.created_at)::float8 / 86400 AS days
    FROM opportunities o
    WHERE o.status IN ('won', 'lost') AND \(KpiSQL.time("o.closed_at", from: "$1::date", to: "$2::date"))
      AND \(KpiSQL.accountFilter("o.account_id", tiers: "$3", accounts: "$4"))
    """

  struct Deal {
    var account: ExactID
    var won: Bool
    var amount: Int64
    var days: Double
  }

  static func influence(
    _ request: Tally_V1_GetInfluenceRequest, settings: KpiSettings, currency: String, _ connection: PostgresConnection
  ) throws -> Tally_V1_GetInfluenceResponse {
    let (period, filter) = try KpiEngine.singlePeriod(request.from, request.to, request.filter)
    let (from, to) = (period.from.description, period.to.description)
    let filters = filter.sqlParameters
    let deals = try connection.query(Self.dealsSQL, [from, to, filters[2], filters[3]]).rows.map { row in
      Deal(
        account: ExactID(try row.require(String.self, "account_id")), won: try row.require(Bool.self, "won"),
        amount: try row.require(Int64.self, "amount"), days: try row.require(Double.self, "days"))
    }
    let scores = try AccountEngagement.totals(
      anchors: Self.anchors, [from, to], filter, targetsOnly: false, settings: settings, connection)
    var response = Tally_V1_GetInfluenceResponse()
    response.from = from
    response.to = to
    response.currency = currency
    response.windowDays = UInt32(AccountEngagement.windowDays(settings))
    response.quartiles = try Self.quartiles(deals, scores: scores)
    // Quartiles apart by engagement only: with scores tied across them (no events at all, say),
    // the ranking is the account ids' order, and the difference says nothing of engagement.
    if let top = response.quartiles.first, let bottom = response.quartiles.last, top.hasSalesCycleDays,
      bottom.hasSalesCycleDays, bottom.salesCycleDays > 0, top.minScore > bottom.maxScore
    {
      response.topClosesFasterPercent = (bottom.salesCycleDays - top.salesCycleDays) / bottom.salesCycleDays * 100
    }
    response.summary = Self.summary(response)
    return response
  }

  /// The deals' accounts ranked by score (0 without one; ties by account id), in four quartiles of
  /// equal size; the top quartiles take the remainder, one account each.
  static func quartiles(_ deals: [Deal], scores: [ExactID: Double]) throws -> [Tally_V1_InfluenceQuartile] {
    let accounts = Set(deals.map(\.account)).sorted { left, right in
      let (a, b) = (scores[left] ?? 0, scores[right] ?? 0)
      return a != b ? a > b : left < right
    }
    let byAccount = Dictionary(grouping: deals, by: \.account)
    var start = 0
    return try (0..<4).map { index in
      let size = accounts.count / 4 + (index < accounts.count % 4 ? 1 : 0)
      let members = accounts[start..<start + size]
      start += size
      var quartile = Tally_V1_InfluenceQuartile()
      quartile.quartile = UInt32(index + 1)
      quartile.accounts = UInt64(members.count)
      quartile.maxScore = members.first.map { scores[$0] ?? 0 } ?? 0
      quartile.minScore = members.last.map { scores[$0] ?? 0 } ?? 0
      let closed = members.flatMap { byAccount[$0] ?? [] }
      let won = closed.filter(\.won)
      quartile.won = UInt64(won.count)
      quartile.lost = UInt64(closed.count - won.count)
      quartile.wonAmount = try won.map(\.amount).moneyTotal()
      if !closed.isEmpty { quartile.winRate = Double(won.count) / Double(closed.count) }
      if !won.isEmpty {
        quartile.salesCycleDays = won.map(\.days).reduce(0, +) / Double(won.count)
        quartile.averageDealSize = Double(quartile.wonAmount) / Double(won.count)
      }
      return quartile
    }
  }

  /// "Accounts in the top quartile close N % faster than the bottom quartile", or why it cannot be said.
  static func summary(_ response: Tally_V1_GetInfluenceResponse) -> String {
    guard let top = response.quartiles.first, let bottom = response.quartiles.last, top.hasSalesCycleDays,
      bottom.hasSalesCycleDays
    else {
      return "Not enough won deals in the top and bottom engagement quartiles to compare their sales cycles."
    }
    guard top.minScore > bottom.maxScore else {
      return "The top and bottom engagement quartiles score the same, so their sales cycles say nothing of engagement."
    }
    guard response.hasTopClosesFasterPercent else {
      return "The bottom engagement quartile's won deals closed the day they were created: no percentage compares "
        + "with that (the top quartile's took \(Self.whole(top.salesCycleDays)) days)."
    }
    let percent = abs(response.topClosesFasterPercent).rounded()
    let days = "(\(Self.whole(top.salesCycleDays)) days against \(Self.whole(bottom.salesCycleDays)))"
    if percent == 0 {
      return "Accounts in the top engagement quartile close as fast as the bottom quartile \(days)."
    }
    let direction = response.topClosesFasterPercent > 0 ? "faster" : "slower"
    return
      "Accounts in the top engagement quartile close \(Self.whole(percent)) % \(direction) than the bottom quartile \(days)."
  }

  /// A value rounded to a whole number. Not through `Int(_:)`, which traps past its range: a bottom
  /// quartile of deals closed the microsecond they were created makes the percentage 10^19 or more.
  static func whole(_ value: Double) -> String {
    let rounded = value.rounded()
    return abs(rounded) < 1e15 ? String(Int(rounded)) : "\(rounded)"
  }
}
