import ArgumentParser
import Foundation
import SwiftProtobuf
import TallyClient
import TallyProto
import TallyWire

extension Accounts {
  /// `tally accounts past-tenures`: corrects the tenures Tally kept when a churned customer came back.
  struct PastTenures: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "past-tenures",
      abstract: "Replace an account's past customer tenures (none given: clear them).",
      discussion: """
        Tally keeps a tenure when a write moves a churned account's customer_since to on or after its churned_at \
        (a win-back), and KPIs count the account as a customer during it. A write that only looked like one (a \
        mistyped year) keeps one by mistake: give the tenures as they were, oldest first, each SINCE..CHURNED \
        (2024-01-01..2024-06-30 or RFC 3339 times), all ended by the account's customer_since. The account's \
        other fields are read and written back as they are (a write in between would be undone).
        """
    )
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The account's id.") var id: String
    @Argument(help: "Tenures as SINCE..CHURNED, oldest first.") var tenures: [String] = []

    func run() async throws {
      let tenures = try self.tenures.enumerated().map { index, text in try Self.tenure(text, index: index) }
      let account = try await self.connection.withClient { session in
        var request = Tally_V1_UpsertAccountRequest()
        request.account = try await session.client.unary(
          AccountMethods.getAccount, .with { $0.id = self.id }, options: session.options)
        request.account.pastTenures = tenures
        request.replacePastTenures = true
        return try await session.client.unary(AccountMethods.upsertAccount, request, options: session.options)
      }
      guard self.connection.output != .json else { return try Output.printMessages([account]) }
      let day = { (time: Google_Protobuf_Timestamp) in ISO8601DateFormatter().string(from: time.date) }
      Output.printTable(
        [["since", "churned_at"]] + account.pastTenures.map { [day($0.since), day($0.churnedAt)] })
      if account.pastTenures.isEmpty, self.connection.output == .table { print("\(self.id) has no past tenures") }
    }

    /// "SINCE..CHURNED", each a day or a time ImportParsing reads.
    static func tenure(_ text: String, index: Int) throws -> Tally_V1_CustomerTenure {
      let parts = text.components(separatedBy: "..")
      guard parts.count == 2 else {
        throw ValidationError(
          "tenure \(index + 1) (\"\(text.prefix(60))\"): write it as SINCE..CHURNED, e.g. 2024-01-01..2024-06-30")
      }
      do {
        var tenure = Tally_V1_CustomerTenure()
        tenure.since = Google_Protobuf_Timestamp(microseconds: try ImportParsing.timestamp(parts[0], field: "since"))
        tenure.churnedAt = Google_Protobuf_Timestamp(
          microseconds: try ImportParsing.timestamp(parts[1], field: "churned_at"))
        return tenure
      } catch {
        throw ValidationError("tenure \(index + 1): \(error)")
      }
    }
  }
}
