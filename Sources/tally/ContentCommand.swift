import ArgumentParser
import Foundation
import TallyClient
import TallyProto
import TallyWire

/// `tally content`: engagement per content asset (content_engagement_by_asset).
struct ContentCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "content",
    abstract: "Engagement per content asset: views, minutes, downloads, shares and engaged target accounts."
  )
  @OptionGroup var connection: ConnectionOptions
  @OptionGroup var period: KpiPeriodOptions
  @OptionGroup var filters: KpiFilterOptions
  @Option(help: "How many assets (at most 1000).") var limit: UInt32 = 20

  func run() async throws {
    var request = Tally_V1_GetContentEngagementRequest()
    (request.from, request.to) = self.period.range
    request.filter = self.filters.filter
    request.limit = self.limit
    let response = try await self.connection.unary(KpiMethods.getContentEngagement, request)
    guard self.connection.output != .json else { return try Output.printMessages([response]) }
    if self.connection.output == .table { print("Content from \(response.from) up to \(response.to)\n") }
    Output.printTable(
      [["asset", "views", "minutes", "downloads", "shares", "target accounts", "events"]]
        + response.assets.map { asset in
          [
            asset.assetID, "\(asset.views)", String(format: "%.1f", asset.minutes), "\(asset.downloads)",
            "\(asset.shares)", "\(asset.engagedTargetAccounts)", "\(asset.events)",
          ]
        })
  }
}
