import ArgumentParser
import Foundation
import TallyClient
import TallyProto
import TallyWire

extension Accounts {
  /// `tally accounts health`: customer accounts, least healthy first, with the parts of the score.
  struct Health: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Customer accounts scored 0 to 100 (least healthy first): NPS, engagement trend, support.",
      discussion: """
        Parts and weights: the contacts' latest NPS answers (40), the engagement score against 30 days before (30), \
        and the hours support questions of the last 90 days stayed open (30). A part without data is left out and \
        the others make the score.
        """
    )
    @OptionGroup var connection: ConnectionOptions
    @Option(help: "As of this UTC day (its events excluded), YYYY-MM-DD. Default: now.") var asOf: String?
    @Option(help: "How many accounts (at most 1000).") var limit: UInt32 = 20
    @OptionGroup var filters: KpiFilterOptions

    func run() async throws {
      var request = Tally_V1_GetAccountHealthRequest()
      request.asOf = self.asOf ?? ""
      request.limit = self.limit
      request.filter = self.filters.filter
      let response = try await self.connection.unary(KpiMethods.getAccountHealth, request)
      guard self.connection.output != .json else { return try Output.printMessages([response]) }
      if self.connection.output == .table { print("Customer health before \(response.asOf), least healthy first\n") }
      let number = { (value: Double) in String(format: "%.1f", value) }
      let part = { (account: Tally_V1_AccountHealth, index: Int) in
        Self.partScore(account, index).map(number) ?? Output.missing
      }
      let rows = response.accounts.map { account in
        [
          account.accountID, "\(account.tier)", number(account.health),
          TextChart.bar(score: account.health, maximum: 100, width: 10), part(account, 0),
          account.hasLatestNps ? number(account.latestNps) : Output.missing, part(account, 1),
          "\(number(account.engagementScoreBefore)) → \(number(account.engagementScore))", part(account, 2),
          "\(account.supportOpen)/\(account.supportQuestions)",
        ]
      }
      Output.printTable(
        [["account", "tier", "health", "", "nps part", "nps", "engagement part", "score", "support part", "open"]]
          + rows,
        csv: Self.csvRows(response))
    }

    /// The same accounts with a column per number (the score before and after, the support
    /// questions open and asked), plain, an empty cell where a part has no data.
    static func csvRows(_ response: Tally_V1_GetAccountHealthResponse) -> [[String]] {
      let part = { (account: Tally_V1_AccountHealth, index: Int) in
        Self.partScore(account, index).map(KpiReport.plain) ?? ""
      }
      let header = [
        "account", "tier", "health", "nps_part", "latest_nps", "engagement_part", "engagement_score_before",
        "engagement_score", "support_part", "support_open", "support_questions",
      ]
      return [header]
        + response.accounts.map { account in
          [
            account.accountID, "\(account.tier)", KpiReport.plain(account.health), part(account, 0),
            account.hasLatestNps ? KpiReport.plain(account.latestNps) : "", part(account, 1),
            KpiReport.plain(account.engagementScoreBefore), KpiReport.plain(account.engagementScore), part(account, 2),
            "\(account.supportOpen)", "\(account.supportQuestions)",
          ]
        }
    }

    /// The score of the account's part at `index` (NPS, engagement, support); nil without data.
    static func partScore(_ account: Tally_V1_AccountHealth, _ index: Int) -> Double? {
      account.parts.count > index && account.parts[index].hasScore ? account.parts[index].score : nil
    }
  }
}
