import TallyStore

/// One pass over the events with a contact for every unique-people KPI: per period, each contact's event
/// types as a bit mask (and the types of its events with a target account as a second one),
/// counted against every type set the KPIs ask about (openers, clickers, delivered, target
/// people...). A dashboard reads those events once instead of once per KPI.
struct ContactTypeSets: KpiPass {
  /// Contacts with an event of a type in `types` (a sorted list), with a target account when
  /// `targetsOnly`; and of a type in `alsoOf` when it is not empty; and of none in `without`
  /// unless of one in `unless`.
  struct Count: Hashable, Sendable {
    var types: [String]
    var targetsOnly = false
    var alsoOf: [String] = []
    var without: [String] = []
    var unless: [String] = []

    init(
      _ types: [String], targetsOnly: Bool = false, alsoOf: [String] = [], without: [String] = [],
      unless: [String] = []
    ) {
      self.types = Array(Set(types)).sorted()
      self.targetsOnly = targetsOnly
      (self.alsoOf, self.without, self.unless) = (alsoOf.sorted(), without.sorted(), unless.sorted())
    }

    var allTypes: [String] { self.types + self.alsoOf + self.without + self.unless }

    /// Contacts sent an email in the period none of which bounced, or which they opened, clicked or
    /// replied to (so it was delivered): the spec's "sent − bounced" as sets, not counts. Counted
    /// apart, a contact with one email bounced and another opened left the base but stayed an
    /// opener, and the open rate passed 100 %.
    static let delivered = Count(
      ["email_sent"], without: ["email_bounced"], unless: ["email_opened", "email_clicked", "email_replied"])

    /// Contacts of `types` who were also sent an email in the period: a delivered rate's numerator,
    /// within its base.
    static func sent(_ types: [String]) -> Count { Count(types, alsoOf: ["email_sent"]) }
  }

  /// What the pass counts, each the column of its index.
  private let columns: [Count: Int]
  /// By period label, then column.
  private var counts: [[Double]]

  static func answers(_ formula: KpiFormula) -> Bool {
    switch formula {
    case .people, .targetPeople: return true
    default: return false
    }
  }

  /// The counts `formula` is computed from.
  private static func counts(_ formula: KpiFormula) -> [Count] {
    switch formula {
    case .people(let numerator, .none): return [Count(numerator)]
    case .people(let numerator, .types(let types)): return [Count(numerator), Count(types)]
    case .people(let numerator, .delivered): return [Count.sent(numerator), Count.delivered]
    case .targetPeople(let types): return [Count(types, targetsOnly: true)]
    default: return []
    }
  }

  /// Rows of (label, n0, n1...): the contacts of each of `counts`. Types are the server's own
  /// constants, never input, so their bits are SQL text.
  static func sql(_ kpi: KpiSQL, counts: [Count]) -> String {
    let types = Array(Set(counts.flatMap(\.allTypes))).sorted()
    let bit = { (type: String) in Int64(1) << Int64(types.firstIndex(of: type)!) }
    let mask = { (types: [String]) in types.reduce(Int64(0)) { $0 | bit($1) } }
    let bits = "CASE c.type " + types.map { "WHEN '\($0)' THEN \(bit($0))" }.joined(separator: " ") + " END"
    let columns = counts.enumerated().map { index, count in
      var conditions = ["m.\(count.targetsOnly ? "target_mask" : "mask") & \(mask(count.types)) <> 0"]
      if !count.alsoOf.isEmpty { conditions.append("m.mask & \(mask(count.alsoOf)) <> 0") }
      if !count.without.isEmpty {
        conditions.append("(m.mask & \(mask(count.without)) = 0 OR m.mask & \(mask(count.unless)) <> 0)")
      }
      return "count(*) FILTER (WHERE \(conditions.joined(separator: " AND "))) AS n\(index)"
    }
    let targets = counts.contains(where: \.targetsOnly)
    return """
      WITH \(KpiSQL.periods)\(targets ? ", " + KpiSQL.targetsJoinedOnce : ""),
      masks AS (
        SELECT p.label, c.contact_id, bit_or(\(bits)) AS mask\(
          targets ? ", bit_or(CASE WHEN t.account_id IS NOT NULL THEN \(bits) END) AS target_mask" : "")
        FROM periods p JOIN \(kpi.people) c ON \(KpiSQL.periodRows("c", sourceBoundsDays: true))
          AND c.type IN \(KpiSQL.list(types))
          \(targets ? "LEFT JOIN targets t ON t.label = p.label AND t.account_id = c.account_id" : "")
        GROUP BY p.label, c.contact_id
      )
      SELECT m.label, \(columns.joined(separator: ", ")) FROM masks m GROUP BY m.label
      """
  }

  init(
    _ formulas: [KpiFormula], periods count: Int, _ parameters: [(any PostgresBindable)?], _ kpi: KpiSQL,
    _ connection: PostgresConnection
  ) throws {
    var counts: [Count] = []
    for count in formulas.flatMap(Self.counts) where !counts.contains(count) { counts.append(count) }
    precondition(Set(counts.flatMap(\.allTypes)).count <= 63, "a contact's type mask is a bigint")
    self.columns = Dictionary(uniqueKeysWithValues: counts.enumerated().map { ($1, $0) })
    self.counts = Array(repeating: Array(repeating: 0, count: counts.count), count: count)
    for row in try connection.query(Self.sql(kpi, counts: counts), parameters).rows {
      let label = try row.require(Int.self, "label")
      for index in counts.indices { self.counts[label][index] = try row.require(Double.self, "n\(index)") }
    }
  }

  func measure(_ formula: KpiFormula, period label: Int) -> KpiMeasure {
    let counts = Self.counts(formula).map { self.columns[$0].map { self.counts[label][$0] } ?? 0 }
    switch formula {
    case .people(_, .none), .targetPeople: return KpiMeasure(numerator: counts[0], denominator: nil)
    case .people(_, .types): return KpiMeasure(numerator: counts[0], denominator: counts[1])
    case .people(_, .delivered): return KpiMeasure(numerator: counts[0], denominator: counts[1])
    default: preconditionFailure("\(formula) is not a people KPI")
    }
  }
}
