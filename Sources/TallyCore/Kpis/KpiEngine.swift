import Foundation
import NIOConcurrencyHelpers
import TallyProto
import TallyStore
import TallyWire

/// A validated KPI filter, as the SQL parameters $4 to $7 (nil = no filter).
struct KpiFilterSpec: Equatable, Sendable {
  var campaignIDs: [String]?
  var channels: [String]?
  var tiers: [Int]?
  var accountIDs: [String]?

  init() {}

  /// The most ids a filter's list may name (RequestWireLimits bounds the wire form by it too).
  static let maxListed = 1_000

  init(_ message: Tally_V1_KpiFilter, _ checker: inout FieldChecker) {
    func list(_ values: [String], _ field: String) -> [String]? {
      if values.count > Self.maxListed {
        checker.add(field, "must list at most \(Self.maxListed), got \(values.count)")
      }
      for (index, value) in values.enumerated() { checker.id(value, "\(field)[\(index)]") }
      return values.isEmpty ? nil : values
    }
    self.campaignIDs = list(message.campaignIds, "filter.campaign_ids")
    for (index, channel) in message.channels.enumerated() {
      checker.oneOf(channel, "filter.channels[\(index)]", CampaignRecord.channels)
    }
    self.channels = message.channels.isEmpty ? nil : message.channels
    for (index, tier) in message.tiers.enumerated() where tier > 3 {
      checker.add("filter.tiers[\(index)]", "must be a tier 0 to 3, got \(tier)")
    }
    self.tiers = message.tiers.isEmpty ? nil : message.tiers.map(Int.init)
    self.accountIDs = list(message.accountIds, "filter.account_ids")
  }

  /// The SQL parameters $4 to $7 of every KPI query (KpiSQL), NULL where there is no filter.
  var sqlParameters: [(any PostgresBindable)?] {
    [
      self.campaignIDs.map(PostgresArray.literal), self.channels.map(PostgresArray.literal),
      self.tiers.map { "{" + $0.map(String.init).joined(separator: ",") + "}" },
      self.accountIDs.map(PostgresArray.literal),
    ]
  }

  var filtersAccounts: Bool { self.tiers != nil || self.accountIDs != nil }
  var filtersCampaigns: Bool { self.campaignIDs != nil || self.channels != nil }

  /// Whether every filter of this spec means something for `formula`.
  func applies(to formula: KpiFormula) -> Bool {
    (!self.filtersAccounts || formula.acceptsAccountFilters)
      && (!self.filtersCampaigns || formula.acceptsCampaignFilters)
  }
}

/// One numerator and denominator over one period.
struct KpiMeasure: Equatable, Sendable {
  var numerator: Double
  /// nil for counts and sums.
  var denominator: Double?
  /// NPS and eNPS: the answers behind the score, whose margin tells a change from chance.
  var answers: NPSScore? = nil
  /// A period that begins after today: no data, counts included.
  var notBegun = false

  /// The KPI's value: nil ("no data") when the denominator is 0 or the period has not begun,
  /// never 0 or NaN.
  var value: Double? {
    guard !self.notBegun else { return nil }
    guard let denominator else { return self.numerator }
    return denominator == 0 ? nil : self.numerator / denominator
  }
}

/// Runs KPI formulas: one query per KPI answers every period of the call, except the KPIs that
/// share a pass over the same rows (KpiPass).
enum KpiEngine {
  /// Rows a KPI method lists at most (the CTAs of GetJourney, the campaigns of GetAttribution, the
  /// reps of GetRepActivity), first in their order: ids are the client's own, as many as it sent,
  /// and a list past the largest frame (some 5,000 long ids) failed the whole answer.
  static let maxListed = 1_000

  /// The shared passes, each run once for all of a call's KPIs it answers.
  static let passes: [any KpiPass.Type] = [EventTypeTotals.self, ContactTypeSets.self, TargetAccountFacts.self]

  static func measure(
    _ kpi: Kpi, _ periods: [KpiPeriods.Period], _ filter: KpiFilterSpec, source: KpiSQL.Source,
    settings: KpiSettings = KpiSettings(), _ connection: PostgresConnection
  ) throws -> [KpiMeasure] {
    try Self.measure([kpi], periods, filter, source: source, settings: settings, connection)[0]
  }

  /// Each of `kpis`' measures over every period, in their order, one query after another.
  static func measure(
    _ kpis: [Kpi], _ periods: [KpiPeriods.Period], _ filter: KpiFilterSpec, source: KpiSQL.Source,
    settings: KpiSettings = KpiSettings(), _ connection: PostgresConnection
  ) throws -> [[KpiMeasure]] {
    try Self.measure(kpis, periods, filter, source: source, settings: settings) { queries in
      for query in queries { try query(connection) }
    }
  }

  /// Each of `kpis`' measures over every period, in their order, the queries spread over the read's
  /// connections (one snapshot).
  static func measure(
    _ kpis: [Kpi], _ periods: [KpiPeriods.Period], _ filter: KpiFilterSpec, source: KpiSQL.Source,
    settings: KpiSettings = KpiSettings(), _ reads: SnapshotReads
  ) throws -> [[KpiMeasure]] {
    try Self.measure(kpis, periods, filter, source: source, settings: settings) { try reads.run($0) }
  }

  /// `measure` of the periods that have begun by `today`, from the rollups. The others have no data
  /// and are not read: their days have not happened, and today's customers and targets would read
  /// as 100 % retention and 0 % engagement of months to come.
  static func measureBegun(
    _ kpis: [Kpi], _ periods: [KpiPeriods.Period], today: CivilDay, _ filter: KpiFilterSpec,
    settings: KpiSettings, _ reads: SnapshotReads
  ) throws -> [[KpiMeasure]] {
    let begun = periods.indices.filter { periods[$0].from.dayNumber <= today.dayNumber }
    let none = KpiMeasure(numerator: 0, denominator: nil, notBegun: true)
    var measures = Array(repeating: Array(repeating: none, count: periods.count), count: kpis.count)
    guard !begun.isEmpty else { return measures }
    let computed = try Self.measure(
      kpis, begun.map { periods[$0] }, filter, source: .rollups, settings: settings, reads)
    for (kpi, answer) in computed.enumerated() {
      for (position, period) in begun.enumerated() { measures[kpi][period] = answer[position] }
    }
    return measures
  }

  /// The passes and the KPIs with a query of their own, each one query that `run` runs once.
  private static func measure(
    _ kpis: [Kpi], _ periods: [KpiPeriods.Period], _ filter: KpiFilterSpec, source: KpiSQL.Source,
    settings: KpiSettings, running run: ([@Sendable (PostgresConnection) throws -> Void]) throws -> Void
  ) throws -> [[KpiMeasure]] {
    let sql = KpiSQL(source: source, settings: settings)
    let parameters = Self.parameters(periods, filter)
    let formulas = kpis.map(\.formula)
    let measures = NIOLockedValueBox<[[KpiMeasure]?]>(Array(repeating: nil, count: formulas.count))
    var queries: [@Sendable (PostgresConnection) throws -> Void] = []
    var inPasses = Set<Int>()
    for pass in Self.passes {
      let answered = formulas.indices.filter { pass.answers(formulas[$0]) }
      guard !answered.isEmpty else { continue }
      inPasses.formUnion(answered)
      queries.append { connection in
        let result = try pass.init(answered.map { formulas[$0] }, periods: periods.count, parameters, sql, connection)
        let answers = answered.map { index in periods.indices.map { result.measure(formulas[index], period: $0) } }
        measures.withLockedValue { measures in
          for (index, answer) in zip(answered, answers) { measures[index] = answer }
        }
      }
    }
    for index in formulas.indices where !inPasses.contains(index) {
      queries.append { connection in
        let answer = try Self.measureAlone(formulas[index], periods, filter, sql, parameters, connection)
        measures.withLockedValue { $0[index] = answer }
      }
    }
    try run(queries)
    return try measures.withLockedValue { measures in
      try measures.map { measure in
        guard let measure else { throw RPCError(code: .internalError, message: "a KPI's query did not run") }
        return measure
      }
    }
  }

  /// A KPI with a query of its own.
  private static func measureAlone(
    _ formula: KpiFormula, _ periods: [KpiPeriods.Period], _ filter: KpiFilterSpec, _ kpi: KpiSQL,
    _ parameters: [(any PostgresBindable)?], _ connection: PostgresConnection
  ) throws -> [KpiMeasure] {
    guard let sql = formula.sql(kpi) else {
      // Marketing-qualified accounts: the engagement scores as of each period's end, or of now for a
      // period that has not ended (a future day would only decay them). Rollups only.
      let tomorrow = CivilDay(dayNumber: CivilDay(Date()).dayNumber + 1)
      let counts = try MarketingQualifiedAccounts.counts(
        asOf: periods.map { min($0.to, tomorrow) }, filter, settings: kpi.settings, connection)
      return counts.map { KpiMeasure(numerator: Double($0), denominator: nil) }
    }
    var measures = Array(repeating: KpiMeasure(numerator: 0, denominator: nil), count: periods.count)
    for row in try connection.query(sql, parameters).rows {
      let label = try row.require(Int.self, "label")
      measures[label] = KpiMeasure(
        numerator: try row.decode(Double.self, "num") ?? 0, denominator: try row.decode(Double.self, "den"))
      if case .surveyScore = formula {
        measures[label].answers = try Self.answers(
          promoters: row.require(Double.self, "promoters"), detractors: row.require(Double.self, "detractors"),
          responses: measures[label].denominator ?? 0)
      }
    }
    return measures
  }

  /// Answers with these counts (the passives are the rest), as NPSScore counts them.
  static func answers(promoters: Double, detractors: Double, responses: Double) -> NPSScore? {
    guard let promoters = UInt64(exactly: promoters), let detractors = UInt64(exactly: detractors),
      let responses = UInt64(exactly: responses), promoters + detractors <= responses
    else { return nil }
    var distribution = [UInt64](repeating: 0, count: 11)
    (distribution[0], distribution[7], distribution[9]) = (detractors, responses - promoters - detractors, promoters)
    return NPSScore(distribution: distribution)
  }

  /// The parameters $1 to $7 of every KPI query (KpiSQL): the periods, labelled by their index,
  /// and the filter.
  static func parameters(_ periods: [KpiPeriods.Period], _ filter: KpiFilterSpec) -> [(any PostgresBindable)?] {
    [
      "{" + periods.indices.map(String.init).joined(separator: ",") + "}",
      "{" + periods.map(\.from.description).joined(separator: ",") + "}",
      "{" + periods.map(\.to.description).joined(separator: ",") + "}",
    ] + filter.sqlParameters
  }

  /// One period and a filter of a request, validated together with `more` checks of its other
  /// fields: for the methods that answer one period.
  static func singlePeriod(
    _ from: String, _ to: String, _ filterMessage: Tally_V1_KpiFilter,
    more: (inout FieldChecker) -> Void = { _ in }
  ) throws -> (KpiPeriods.Period, KpiFilterSpec) {
    var checker = FieldChecker()
    let periods = KpiPeriods.parse(from: from, to: to, bucket: "", &checker)
    let filter = KpiFilterSpec(filterMessage, &checker)
    more(&checker)
    try checker.check()
    guard let period = periods?.current else {
      throw RPCError(code: .internalError, message: "period missing after validation")
    }
    return (period, filter)
  }

  /// The answer for one KPI from its measures of `periods.all` (`measureBegun`'s): the current and
  /// previous periods, the change, and the trend.
  static func value(_ kpi: Kpi, _ periods: KpiPeriods, _ measures: [KpiMeasure]) -> Tally_V1_KpiValue {
    func point(_ period: KpiPeriods.Period, _ measure: KpiMeasure) -> Tally_V1_KpiPoint {
      var point = Tally_V1_KpiPoint()
      point.from = period.from.description
      point.to = period.to.description
      if let value = measure.value { point.value = value }
      point.numerator = measure.numerator
      if let denominator = measure.denominator { point.denominator = denominator }
      if let margin = measure.answers?.marginOfError { point.marginOfError = margin }
      return point
    }
    var value = Tally_V1_KpiValue()
    value.name = kpi.name
    value.unit = kpi.unit
    value.current = point(periods.current, measures[0])
    value.previous = point(periods.previous, measures[1])
    if let now = measures[0].value, let before = measures[1].value {
      value.change = now - before
      if before != 0 { value.relativeChange = (now - before) / abs(before) }
      if let current = measures[0].answers, let previous = measures[1].answers,
        let difference = NPSChange(current: current, previous: previous)
      {
        value.combinedMargin = difference.combinedMargin
        value.changeBeyondMargin = difference.beyondMargin
      }
    }
    value.trend = zip(periods.buckets, measures.dropFirst(2)).map(point)
    return value
  }
}
