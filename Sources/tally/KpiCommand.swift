import ArgumentParser
import Foundation
import SwiftProtobuf
import TallyClient
import TallyProto
import TallyWire

/// The campaign, channel and tier filters of `tally kpi`, `tally journey` and `tally accounts top`.
struct KpiFilterOptions: ParsableArguments {
  @Option(help: "Only these campaigns (repeatable).") var campaign: [String] = []
  @Option(help: "Only campaigns of these channels (repeatable).") var channel: [String] = []
  @Option(help: "Only accounts of these tiers, 0 to 3 (repeatable).") var tier: [UInt32] = []

  var filter: Tally_V1_KpiFilter {
    var filter = Tally_V1_KpiFilter()
    filter.campaignIds = self.campaign
    filter.channels = self.channel
    filter.tiers = self.tier
    return filter
  }
}

/// The period of `tally kpi`, `tally influence` and `tally attribution`.
struct KpiPeriodOptions: ParsableArguments {
  @Option(
    help:
      "2026, 2026-Q1, 2026-03, last-quarter, this-quarter, last-month, this-month or last-year (UTC). Default: last-quarter."
  )
  var period: String?
  @Option(help: "Instead of --period: the first day, YYYY-MM-DD.") var from: String?
  @Option(help: "Instead of --period: the day after the last, YYYY-MM-DD.") var to: String?

  /// The period asked for, last quarter when none is.
  private var named: String { self.period ?? "last-quarter" }

  func validate() throws {
    if (self.from == nil) != (self.to == nil) { throw ValidationError("--from and --to go together") }
    if let period, self.from != nil {
      throw ValidationError("--period \(period) and --from/--to both name the period: give one of them")
    }
    if self.from == nil, KpiPeriodArgument.parse(self.named) == nil {
      throw ValidationError(
        "--period must be YYYY, YYYY-QN, YYYY-MM, last-quarter, this-quarter, last-month, this-month or last-year; got \"\(self.named)\""
      )
    }
  }

  /// [from, to) as the requests spell it.
  var range: (from: String, to: String) {
    if let from, let to { return (from, to) }
    return KpiPeriodArgument.parse(self.named) ?? ("", "")
  }
}

/// The period, bucket and filters of `tally kpi` and `tally kpi explain`.
struct KpiQueryOptions: ParsableArguments {
  @OptionGroup var period: KpiPeriodOptions
  @Option(help: "Trend buckets: day, week, month or quarter.") var bucket = "month"
  @OptionGroup var filters: KpiFilterOptions
  @Option(help: "Only these accounts (repeatable).") var account: [String] = []

  func request(names: [String]) -> Tally_V1_GetKpisRequest {
    var request = Tally_V1_GetKpisRequest()
    request.names = names
    (request.from, request.to) = self.period.range
    request.bucket = self.bucket
    request.filter = self.filters.filter
    request.filter.accountIds = self.account
    return request
  }

  /// The filters in words, for `explain`.
  var described: [String] {
    [
      ("campaign", self.filters.campaign), ("channel", self.filters.channel),
      ("tier", self.filters.tier.map(String.init)),
      ("account", self.account),
    ]
    .filter { !$0.1.isEmpty }.map { "\($0.0) \($0.1.joined(separator: " or "))" }
  }
}

/// `tally kpi`: the default dashboard, one KPI explained, or the catalogue.
struct Kpis: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "kpi",
    abstract: "ABM KPIs: the dashboard, one KPI explained, or the catalogue.",
    subcommands: [Dashboard.self, Explain.self, List.self, Settings.self],
    defaultSubcommand: Dashboard.self
  )

  struct Dashboard: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "show",
      abstract: "KPI, value, previous period, change (▲/▼) and trend; the last full quarter by default.",
      discussion: """
        A ratio's change is in percentage points; other changes are relative. "no data" is a zero \
        denominator. With -o csv: one row per KPI and period (current, previous, each bucket), \
        numbers as the API gives them (ratios as fractions, money in the currency's minor units); \
        the current period's row also holds the change, the relative change and, for NPS, the \
        combined margin and whether the change is beyond it.
        """
    )
    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var query: KpiQueryOptions
    @Option(name: .customLong("name"), help: "Only these KPIs (repeatable); default: the headline KPIs.")
    var names: [String] = []

    func run() async throws {
      let response = try await self.connection.unary(KpiMethods.getKpis, self.query.request(names: self.names))
      guard self.connection.output != .json else { return try Output.printMessages([response]) }
      if self.connection.output == .table {
        print("\(response.from) to \(response.to), against \(response.previousFrom) to \(response.previousTo)\n")
      }
      Output.printTable(
        [KpiReport.header] + KpiReport.rows(response), csv: [KpiReport.csvHeader] + KpiReport.csvRows(response))
      if let note = KpiReport.leftOutNote(response) { Output.printError(note) }
    }
  }

  struct Explain: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "One KPI: its definition, numerator and denominator with their values, and the filters used.")
    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var query: KpiQueryOptions
    @Argument(help: "The KPI's name (tally kpi list).") var name: String

    func run() async throws {
      let (definition, response) = try await self.connection.withClient { session in
        let catalogue = try await session.client.unary(KpiMethods.listKpis, .init(), options: session.options)
        guard let definition = catalogue.kpis.first(where: { $0.name == self.name }) else {
          throw ValidationError("no KPI \"\(self.name)\"; tally kpi list shows them")
        }
        let response = try await session.client.unary(
          KpiMethods.getKpis, self.query.request(names: [self.name]), options: session.options)
        return (definition, response)
      }
      guard self.connection.output != .json else { return try Output.printMessages([response]) }
      for line in KpiReport.explanation(definition, response, filters: self.query.described) { print(line) }
    }
  }

  struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "The KPI catalogue.")
    @OptionGroup var connection: ConnectionOptions
    @Option(help: "One family: engagement, conversion, coverage, pipeline, retention or sales_activity.")
    var family: String?

    func run() async throws {
      var request = Tally_V1_ListKpisRequest()
      request.family = self.family ?? ""
      let kpis = try await self.connection.unary(KpiMethods.listKpis, request).kpis
      guard self.connection.output != .json else { return try Output.printMessageArray(kpis) }
      Output.printTable(
        [["kpi", "family", "unit", "kind", "definition"]]
          + kpis.map { [$0.name, $0.family, $0.unit, $0.headline ? "headline" : "secondary", $0.definition] })
    }
  }

  struct Settings: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Show the tenant's KPI settings, change some with --set, or replace them all with --json.",
      discussion: """
        --set changes the named settings and keeps the others (the current settings are read, \
        changed and written back); --json replaces every setting, and those it leaves out take \
        their defaults. Example: tally kpi settings --set decay_half_life_days=14 \
        --set event_weights.web_visit=3
        """
    )
    @OptionGroup var connection: ConnectionOptions
    @Option(help: "All the settings as protobuf JSON, or @FILE; --set applies on top.") var json: String?
    @Option(help: "field=value (repeatable; map entries as event_weights.TYPE=N).") var set: [String] = []

    func run() async throws {
      var settings = try await self.connection.unary(KpiMethods.getSettings, .init())
      if self.json != nil || !self.set.isEmpty {
        // Without --json, the current settings are the base the --set assignments change.
        let base = try self.json ?? String(decoding: settings.jsonUTF8Data(options: Output.protoJSON), as: UTF8.self)
        var request = Tally_V1_UpdateKpiSettingsRequest()
        request.settings = try DataCommands<AccountEntity>.message(json: base, sets: self.set)
        settings = try await self.connection.unary(KpiMethods.updateSettings, request)
      }
      guard self.connection.output != .json else { return try Output.printMessages([settings]) }
      var rows = [
        ["decay_half_life_days", "\(settings.decayHalfLifeDays)"], ["mqa_threshold", "\(settings.mqaThreshold)"],
        ["influence_lookback_days", "\(settings.influenceLookbackDays)"],
        ["gross_margin_percent", "\(settings.grossMarginPercent)"], ["min_contacts", "\(settings.minContacts)"],
        ["currency", settings.currency], ["engaged_threshold", "\(settings.engagedThreshold)"],
      ]
      rows += settings.eventWeights.sorted { $0.key < $1.key }.map { ["event_weights.\($0.key)", "\($0.value)"] }
      rows += settings.tierMultipliers.sorted { $0.key < $1.key }.map { ["tier_multipliers.\($0.key)", "\($0.value)"] }
      rows += settings.roleMultipliers.sorted { $0.key < $1.key }.map { ["role_multipliers.\($0.key)", "\($0.value)"] }
      Output.printTable([["setting", "value"]] + rows)
    }
  }
}
