import ArgumentParser
import Foundation
import TallyClient
import TallyProto
import TallyWire

/// `tally attribution`: won revenue and pipeline credited to campaigns, with cost and ROI.
struct AttributionCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "attribution",
    abstract: "Won revenue and pipeline of the period credited to the campaigns that touched the deals, with ROI.",
    discussion: """
      A touch is an engagement event of the deal's account with a campaign, in the influence look-back (tally kpi \
      settings) before the opportunity was created. Models: first_touch, last_touch, linear, time_decay (touches \
      halve in weight every 7 days before the deal). Each deal's credits add up to its amount.
      """
  )
  @OptionGroup var connection: ConnectionOptions
  @OptionGroup var period: KpiPeriodOptions
  @Option(help: "first_touch, last_touch, linear or time_decay.") var model = "linear"
  @OptionGroup var filters: KpiFilterOptions

  func run() async throws {
    var request = Tally_V1_GetAttributionRequest()
    (request.from, request.to) = self.period.range
    request.model = self.model
    request.filter = self.filters.filter
    let response = try await self.connection.unary(KpiMethods.getAttribution, request)
    guard self.connection.output != .json else { return try Output.printMessages([response]) }
    let money = { (value: Int64) in Output.value(Double(value), "money", response.currency) }
    // Costs are kept per campaign, not per account: a tier or account filter leaves them out.
    let costsLeftOut = !request.filter.tiers.isEmpty || !request.filter.accountIds.isEmpty
    let cost = { (value: Int64) in costsLeftOut ? Output.missing : money(value) }
    let roi = { (has: Bool, value: Double) in has ? Output.value(value, "ratio", response.currency) : Output.missing }
    if self.connection.output == .table {
      print(
        "\(response.model) attribution, \(response.from) up to \(response.to) (touches up to \(response.lookbackDays) days before a deal)\n"
      )
    }
    let rows = response.campaigns.map { campaign in
      [
        campaign.campaignID, campaign.channel.isEmpty ? Output.missing : campaign.channel, "\(campaign.touches)",
        "\(campaign.dealsWon)", money(campaign.attributedRevenue), "\(campaign.opportunities)",
        money(campaign.attributedPipeline), cost(campaign.cost), roi(campaign.hasRoi, campaign.roi),
      ]
    }
    Output.printTable(
      [
        [
          "campaign", "channel", "touches", "won", Output.moneyHeader("revenue", response.currency), "opps",
          Output.moneyHeader("pipeline", response.currency), Output.moneyHeader("cost", response.currency), "roi",
        ]
      ] + rows)
    guard self.connection.output == .table else { return }
    print(
      """

      Won revenue \(money(response.wonRevenue)), of which \(money(response.attributedRevenue)) had a campaign touch.
      Pipeline created \(money(response.pipelineCreated)), of which \(money(response.attributedPipeline)) had one.
      Cost \(cost(response.cost)); ROI \(roi(response.hasRoi, response.roi)).
      """)
    if costsLeftOut { print("Costs are kept per campaign, not per account: a tier or account filter leaves them out.") }
  }
}
