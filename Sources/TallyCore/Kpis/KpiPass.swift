import TallyStore

/// One query that answers several KPIs of a call at once, where they read the same rows: the
/// dashboard reads them once instead of once per KPI (KpiEngine runs each pass that any of the
/// call's KPIs needs).
protocol KpiPass: Sendable {
  /// Whether this pass computes `formula`; such a formula has no query of its own.
  static func answers(_ formula: KpiFormula) -> Bool

  /// Runs the pass for `formulas` (each one `answers` accepts) over `periods` periods, with
  /// KpiSQL's parameters.
  init(
    _ formulas: [KpiFormula], periods: Int, _ parameters: [(any PostgresBindable)?], _ kpi: KpiSQL,
    _ connection: PostgresConnection
  ) throws

  /// The measure of one of the pass's formulas over the period labelled `label`.
  func measure(_ formula: KpiFormula, period label: Int) -> KpiMeasure
}
