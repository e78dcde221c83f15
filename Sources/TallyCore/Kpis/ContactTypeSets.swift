import TallyStore

/// One pass over the people rollups for every unique-people KPI: per period, each contact's event
/// types as a bit mask, counted against every type set the KPIs ask about (openers, clickers,
/// delivered...). A dashboard reads those rollup rows once instead of once per KPI.
struct ContactTypeSets: KpiPass {
  /// The type sets counted, each a sorted list of types.
  private let sets: [[String]]
  /// By period label, then set: the contacts with an event of a type in the set.
  private var counts: [[Double]]

  static func answers(_ formula: KpiFormula) -> Bool {
    if case .people = formula { return true }
    return false
  }

  /// The type sets `formula` counts contacts of.
  private static func sets(_ formula: KpiFormula) -> [[String]] {
    guard case .people(let numerator, let base) = formula else { return [] }
    switch base {
    case .none: return [numerator]
    case .types(let types): return [numerator, types]
    case .delivered: return [numerator, ["email_sent"], ["email_bounced"]]
    }
  }

  /// Rows of (label, n0, n1...): the contacts of each of `sets`. Types are the server's own
  /// constants, never input, so their bits are SQL text.
  static func sql(_ kpi: KpiSQL, sets: [[String]]) -> String {
    let types = Array(Set(sets.joined())).sorted()
    let bit = { (type: String) in Int64(1) << Int64(types.firstIndex(of: type)!) }
    let cases = types.map { "WHEN '\($0)' THEN \(bit($0))" }.joined(separator: " ")
    let columns = sets.enumerated().map { index, set in
      "count(*) FILTER (WHERE m.mask & \(set.reduce(0) { $0 | bit($1) }) <> 0) AS n\(index)"
    }
    return """
      WITH \(KpiSQL.periods),
      masks AS (
        SELECT p.label, c.contact_id, bit_or(CASE c.type \(cases) END) AS mask
        FROM periods p JOIN \(kpi.people) c ON c.day >= p.p_from AND c.day < p.p_to AND \(KpiSQL.rowFilter("c"))
          AND c.type IN \(KpiSQL.list(types))
        GROUP BY p.label, c.contact_id
      )
      SELECT m.label, \(columns.joined(separator: ", ")) FROM masks m GROUP BY m.label
      """
  }

  init(
    _ formulas: [KpiFormula], periods count: Int, _ parameters: [(any PostgresBindable)?], _ kpi: KpiSQL,
    _ connection: PostgresConnection
  ) throws {
    var sets: [[String]] = []
    for set in formulas.flatMap(Self.sets) {
      let sorted = Array(Set(set)).sorted()
      if !sets.contains(sorted) { sets.append(sorted) }
    }
    precondition(Set(sets.joined()).count <= 63, "a contact's type mask is a bigint")
    self.sets = sets
    self.counts = Array(repeating: Array(repeating: 0, count: sets.count), count: count)
    for row in try connection.query(Self.sql(kpi, sets: sets), parameters).rows {
      let label = try row.require(Int.self, "label")
      for index in sets.indices { self.counts[label][index] = try row.require(Double.self, "n\(index)") }
    }
  }

  func measure(_ formula: KpiFormula, period label: Int) -> KpiMeasure {
    let counts = Self.sets(formula).map { self.counts[label][self.sets.firstIndex(of: Array(Set($0)).sorted())!] }
    guard case .people(_, let base) = formula else { preconditionFailure("\(formula) is not a people KPI") }
    switch base {
    case .none: return KpiMeasure(numerator: counts[0], denominator: nil)
    case .types: return KpiMeasure(numerator: counts[0], denominator: counts[1])
    case .delivered: return KpiMeasure(numerator: counts[0], denominator: max(counts[1] - counts[2], 0))
    }
  }
}
