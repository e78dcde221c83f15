import TallyStore

/// One pass over each period's target accounts for the KPIs about them as they are now
/// (coverage, contacts per target, data completeness): the targets, the covered ones, their
/// contacts and their filled required fields. The contacts are counted per account once, for
/// the accounts the filters keep, and hash-joined to the targets: a look-up per target took 1.6
/// times as long on a 40,000-account tenant (docs/BENCHMARKS.md, session 16). The counts are
/// MATERIALIZED: inlined, the planner, which underestimates the targets, rescanned them for each.
struct TargetAccountFacts: KpiPass {
  struct Facts: Equatable, Sendable {
    var targets = 0.0
    var covered = 0.0
    var contacts = 0.0
    var filledFields = 0.0
  }

  /// By period label.
  private var facts: [Facts]

  static func answers(_ formula: KpiFormula) -> Bool {
    switch formula {
    case .accounts(.coverage), .accounts(.contactsPerTarget), .accounts(.dataCompleteness): return true
    default: return false
    }
  }

  /// Rows of (label, targets, covered, contacts, filled) with KpiSQL's parameters. Covered: at
  /// least the tenant's `min_contacts` contacts and a decision maker. Filled: industry, size,
  /// revenue, owner and a target tier, five per account.
  static func sql(_ kpi: KpiSQL) -> String {
    """
    WITH \(KpiSQL.periods), \(KpiSQL.targets),
    contact_facts AS MATERIALIZED (
      SELECT k.account_id, count(*) AS contacts, bool_or(k.role = 'decision_maker') AS decision_maker
      FROM contacts k WHERE \(KpiSQL.accountFilter("k.account_id"))
      GROUP BY k.account_id
    )
    SELECT t.label, count(*) AS targets,
      count(*) FILTER (WHERE c.contacts >= \(kpi.minContacts) AND c.decision_maker) AS covered,
      coalesce(sum(c.contacts), 0) AS contacts,
      coalesce(sum((a.industry IS NOT NULL)::int + (a.employee_count IS NOT NULL)::int
        + (a.annual_revenue IS NOT NULL)::int + (a.owner IS NOT NULL)::int + 1), 0) AS filled
    FROM targets t JOIN accounts a ON a.account_id = t.account_id
      LEFT JOIN contact_facts c ON c.account_id = t.account_id
    GROUP BY t.label
    """
  }

  init(
    _ formulas: [KpiFormula], periods count: Int, _ parameters: [(any PostgresBindable)?], _ kpi: KpiSQL,
    _ connection: PostgresConnection
  ) throws {
    self.facts = Array(repeating: Facts(), count: count)
    for row in try connection.query(Self.sql(kpi), parameters).rows {
      self.facts[try row.require(Int.self, "label")] = Facts(
        targets: try row.require(Double.self, "targets"), covered: try row.require(Double.self, "covered"),
        contacts: try row.require(Double.self, "contacts"), filledFields: try row.require(Double.self, "filled"))
    }
  }

  func measure(_ formula: KpiFormula, period label: Int) -> KpiMeasure {
    let facts = self.facts[label]
    switch formula {
    case .accounts(.coverage): return KpiMeasure(numerator: facts.covered, denominator: facts.targets)
    case .accounts(.contactsPerTarget): return KpiMeasure(numerator: facts.contacts, denominator: facts.targets)
    case .accounts(.dataCompleteness): return KpiMeasure(numerator: facts.filledFields, denominator: 5 * facts.targets)
    default: preconditionFailure("\(formula) is not a fact of target accounts")
    }
  }
}
