import ArgumentParser
import Foundation
import TallyClient
import TallyProto
import TallyWire

/// `tally journey`: accounts per journey stage, the conversion between stages, and per CTA.
struct JourneyCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "journey",
    abstract: "Accounts per journey stage (unaware → customer), stage-to-stage conversion, and CTA conversion.",
    discussion: """
      An account is in the deepest stage it qualifies for: customer, a live opportunity, an engagement score at \
      the MQA threshold, at the engaged threshold, above 0 (aware), or none (unaware). Thresholds: tally kpi settings.
      """
  )
  @OptionGroup var connection: ConnectionOptions
  @Option(help: "As of this UTC day (its events excluded), YYYY-MM-DD. Default: now.") var asOf: String?
  @Flag(help: "Target accounts (tier 1 to 3) only.") var targetsOnly = false
  @OptionGroup var filters: KpiFilterOptions

  func run() async throws {
    var request = Tally_V1_GetJourneyRequest()
    request.asOf = self.asOf ?? ""
    request.targetsOnly = self.targetsOnly
    request.filter = self.filters.filter
    let journey = try await self.connection.unary(KpiMethods.getJourney, request)
    guard self.connection.output != .json else { return try Output.printMessages([journey]) }
    guard self.connection.output != .csv else { return Output.printTable(Self.csvRows(journey)) }
    let widest = journey.stages.map(\.reached).max() ?? 0
    let stages = journey.stages.map { stage in
      [
        stage.stage, "\(stage.accounts)", "\(stage.reached)",
        stage.hasConversionToNext ? Output.value(stage.conversionToNext, "ratio", "") : Output.missing,
        TextChart.bar(stage.reached, maximum: widest, width: 30),
      ]
    }
    Output.printTable([["stage", "accounts", "reached", "to next", ""]] + stages)
    guard !journey.ctas.isEmpty else { return }
    if self.connection.output == .table { print("") }
    Output.printTable(
      [["cta", "views", "conversions", "rate"]]
        + journey.ctas.map { cta in
          [
            cta.assetID, "\(cta.views)", "\(cta.conversions)",
            cta.hasRate ? Output.value(cta.rate, "ratio", "") : Output.missing,
          ]
        })
  }

  /// `-o csv`: the stages and the CTAs in one table, a row's kind first and the other kind's
  /// columns empty, so that one file holds one header.
  static func csvRows(_ journey: Tally_V1_GetJourneyResponse) -> [[String]] {
    let stages = journey.stages.map { stage in
      [
        "stage", stage.stage, "\(stage.accounts)", "\(stage.reached)",
        stage.hasConversionToNext ? KpiReport.plain(stage.conversionToNext) : "", "", "", "",
      ]
    }
    let ctas = journey.ctas.map { cta in
      [
        "cta", cta.assetID, "", "", "", "\(cta.views)", "\(cta.conversions)",
        cta.hasRate ? KpiReport.plain(cta.rate) : "",
      ]
    }
    return [["kind", "name", "accounts", "reached", "to_next", "views", "conversions", "rate"]] + stages + ctas
  }
}
