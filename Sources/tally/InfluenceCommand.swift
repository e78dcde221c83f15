import ArgumentParser
import Foundation
import TallyClient
import TallyProto
import TallyWire

/// `tally influence`: win rate, sales cycle and deal size per engagement-score quartile.
struct InfluenceCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "influence",
    abstract: "Do engaged accounts win more, sooner, bigger? Deals closed in the period, by engagement quartile.",
    discussion: """
      Each account with a deal closed (won or lost) in the period is scored as of the day its first such deal was \
      created, and the accounts are split into four quartiles by that score (1 = the most engaged).
      """
  )
  @OptionGroup var connection: ConnectionOptions
  @OptionGroup var period: KpiPeriodOptions
  @OptionGroup var filters: KpiFilterOptions

  func run() async throws {
    var request = Tally_V1_GetInfluenceRequest()
    (request.from, request.to) = self.period.range
    request.filter = self.filters.filter
    let response = try await self.connection.unary(KpiMethods.getInfluence, request)
    guard self.connection.output != .json else { return try Output.printMessages([response]) }
    if self.connection.output == .table { print("Deals closed from \(response.from) up to \(response.to)\n") }
    let value = { (has: Bool, value: Double, unit: String) in
      has ? Output.value(value, unit, response.currency) : Output.missing
    }
    // The score range is one cell for people, two columns of plain numbers in CSV.
    let scores = { (quartile: Tally_V1_InfluenceQuartile) -> [String] in
      guard quartile.accounts > 0 else { return Output.isCSV ? ["", ""] : [Output.missing] }
      return Output.isCSV
        ? [KpiReport.plain(quartile.minScore), KpiReport.plain(quartile.maxScore)]
        : [String(format: "%.1f–%.1f", quartile.minScore, quartile.maxScore)]
    }
    let rows = response.quartiles.map { quartile in
      ["\(quartile.quartile)", "\(quartile.accounts)"] + scores(quartile) + [
        "\(quartile.won)", "\(quartile.lost)", value(quartile.hasWinRate, quartile.winRate, "ratio"),
        value(quartile.hasSalesCycleDays, quartile.salesCycleDays, "days"),
        value(quartile.hasAverageDealSize, quartile.averageDealSize, "money"),
      ]
    }
    let csvHeader = [
      "quartile", "accounts", "min_score", "max_score", "won", "lost", "win_rate", "sales_cycle_days",
      Output.moneyHeader("deal_size", response.currency),
    ]
    Output.printTable(
      [
        [
          "quartile", "accounts", "score", "won", "lost", "win rate", "sales cycle",
          Output.moneyHeader("deal size", response.currency),
        ]
      ] + rows,
      csv: Output.isCSV ? [csvHeader] + rows : nil)
    if self.connection.output == .table { print("\n" + response.summary) }
  }
}
