import ArgumentParser
import Foundation
import TallyClient
import TallyProto
import TallyWire

extension Accounts {
  /// `tally accounts top`: accounts ranked by engagement score.
  struct Top: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Accounts ranked by engagement score, with minutes, people, spike and the events behind the score.",
      discussion: """
        The score decays with the tenant's half-life (tally kpi settings); spike is the last 7 days' minutes \
        against the weekly average of the 4 weeks before. Stage is the account's journey stage (tally journey).
        """
    )
    @OptionGroup var connection: ConnectionOptions
    @Option(help: "The score as of this UTC day (its events excluded), YYYY-MM-DD. Default: now.") var asOf: String?
    @Option(help: "How many accounts (at most 1000).") var limit: UInt32 = 20
    @Flag(help: "Target accounts (tier 1 to 3) only.") var targetsOnly = false
    @OptionGroup var filters: KpiFilterOptions

    func run() async throws {
      var request = Tally_V1_GetAccountEngagementRequest()
      request.asOf = self.asOf ?? ""
      request.limit = self.limit
      request.targetsOnly = self.targetsOnly
      request.filter = self.filters.filter
      let response = try await self.connection.unary(KpiMethods.getAccountEngagement, request)
      guard self.connection.output != .json else { return try Output.printMessages([response]) }
      if self.connection.output == .table {
        print(
          "Engagement before \(response.asOf) (\(response.windowDays) days of events; MQA from \(Self.number(response.mqaThreshold)))\n"
        )
      }
      let rows = response.accounts.enumerated().map { index, account in
        [
          "\(index + 1)", account.accountID, "\(account.tier)", Self.number(account.score),
          Self.number(account.engagementMinutes), "\(account.peopleEngaged)",
          account.hasSpike ? String(format: Output.isCSV ? "%.1f" : "%.1f×", account.spike) : Output.missing,
          account.stage,
          account.topEvents.prefix(3).map { "\($0.type) \(Self.number($0.score))" }.joined(separator: ", "),
        ]
      }
      Output.printTable(
        [["#", "account", "tier", "score", "minutes", "people", "spike", "stage", "top events"]] + rows)
    }

    static func number(_ value: Double) -> String { String(format: "%.1f", value) }
  }
}
