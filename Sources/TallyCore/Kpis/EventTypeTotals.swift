import TallyStore

/// One pass over the events for every KPI that is a sum over event types (ratios, counts,
/// minutes, the conversion rate, program focus): per period and type, the events, those of known
/// and of target accounts, those with a campaign (and of those, of target accounts), and the
/// seconds. A dashboard reads those rollup rows once instead of once per KPI.
struct EventTypeTotals: KpiPass {
  struct Totals: Equatable, Sendable {
    var events = 0.0
    var knownAccounts = 0.0
    var targetAccounts = 0.0
    var campaignEvents = 0.0
    var targetCampaignEvents = 0.0
    var seconds = 0.0
  }

  /// By period label, then event type.
  private var totals: [[String: Totals]]

  static func answers(_ formula: KpiFormula) -> Bool {
    switch formula {
    case .eventRatio, .eventCount, .minutes, .conversionRate, .programFocus: return true
    default: return false
    }
  }

  /// Rows of (label, type, events, known, targeted, campaign, targeted_campaign, seconds) with
  /// KpiSQL's parameters.
  static func sql(_ kpi: KpiSQL) -> String {
    """
    WITH \(KpiSQL.periods), \(KpiSQL.targetsJoinedOnce)
    SELECT p.label, e.type, sum(e.events) AS events, coalesce(sum(e.events) FILTER (WHERE e.account_id <> ''), 0) AS known,
      coalesce(sum(e.events) FILTER (WHERE t.account_id IS NOT NULL), 0) AS targeted,
      coalesce(sum(e.events) FILTER (WHERE e.campaign_id <> ''), 0) AS campaign,
      coalesce(sum(e.events) FILTER (WHERE e.campaign_id <> '' AND t.account_id IS NOT NULL), 0) AS targeted_campaign,
      sum(e.seconds) AS seconds
    FROM periods p JOIN \(kpi.events) e ON \(KpiSQL.periodRows("e"))
      LEFT JOIN targets t ON t.label = p.label AND t.account_id = e.account_id
    GROUP BY p.label, e.type
    """
  }

  init(
    _ formulas: [KpiFormula], periods count: Int, _ parameters: [(any PostgresBindable)?], _ kpi: KpiSQL,
    _ connection: PostgresConnection
  ) throws {
    self.totals = Array(repeating: [:], count: count)
    for row in try connection.query(Self.sql(kpi), parameters).rows {
      self.totals[try row.require(Int.self, "label")][try row.require(String.self, "type")] = Totals(
        events: try row.require(Double.self, "events"), knownAccounts: try row.require(Double.self, "known"),
        targetAccounts: try row.require(Double.self, "targeted"),
        campaignEvents: try row.require(Double.self, "campaign"),
        targetCampaignEvents: try row.require(Double.self, "targeted_campaign"),
        seconds: try row.require(Double.self, "seconds"))
    }
  }

  func measure(_ formula: KpiFormula, period label: Int) -> KpiMeasure {
    let totals = self.totals[label]
    func sum(_ types: [String], _ value: KeyPath<Totals, Double>) -> Double {
      Set(types).reduce(0) { $0 + (totals[$1]?[keyPath: value] ?? 0) }
    }
    switch formula {
    case .eventRatio(let numerator, let denominator):
      return KpiMeasure(numerator: sum(numerator, \.events), denominator: sum(denominator, \.events))
    case .eventCount(let types, let targetsOnly):
      return KpiMeasure(numerator: sum(types, targetsOnly ? \.targetAccounts : \.events), denominator: nil)
    case .minutes(let types):
      return KpiMeasure(numerator: sum(types, \.seconds) / 60, denominator: nil)
    case .conversionRate:
      return KpiMeasure(
        numerator: sum(KpiFormula.conversionTypes, \.knownAccounts),
        denominator: sum(KpiFormula.engagementTypes, \.knownAccounts))
    case .programFocus:
      return KpiMeasure(
        numerator: sum(KpiFormula.successTypes, \.targetCampaignEvents),
        denominator: sum(KpiFormula.successTypes, \.campaignEvents))
    default:
      preconditionFailure("\(formula) is not a sum over event types")
    }
  }
}
