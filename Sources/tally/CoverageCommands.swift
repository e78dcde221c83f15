import ArgumentParser
import Foundation
import TallyClient
import TallyProto
import TallyWire

/// `tally coverage`: how many contacts the target accounts have.
struct CoverageCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "coverage",
    abstract: "Target accounts by number of contacts (with a decision maker or not), and contacts per role."
  )
  @OptionGroup var connection: ConnectionOptions
  @OptionGroup var period: KpiPeriodOptions
  @OptionGroup var filters: KpiFilterOptions

  func run() async throws {
    var request = Tally_V1_GetCoverageRequest()
    (request.from, request.to) = self.period.range
    request.filter = self.filters.filter
    let response = try await self.connection.unary(KpiMethods.getCoverage, request)
    guard self.connection.output != .json else { return try Output.printMessages([response]) }
    if self.connection.output == .table {
      print(
        "\(response.targetAccounts) target accounts, \(response.covered) covered (at least \(response.minContacts) contacts and a decision maker)\n"
      )
    }
    let widest = response.buckets.map(\.accounts).max() ?? 0
    Output.printTable(
      [["contacts", "accounts", "with decision maker", ""]]
        + response.buckets.map { bucket in
          [
            bucket.contacts, "\(bucket.accounts)", "\(bucket.withDecisionMaker)",
            TextChart.bar(bucket.accounts, maximum: widest, width: 30),
          ]
        })
    guard self.connection.output == .table else { return }
    print("")
    Output.printTable(
      [["role", "contacts"]] + response.contactsByRole.sorted { $0.key < $1.key }.map { [$0.key, "\($0.value)"] })
  }
}

/// `tally reps`: sales activity per rep.
struct RepsCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "reps",
    abstract: "Sales activity per rep: dials, sales emails, tasks, conversations, meetings, activities per working day."
  )
  @OptionGroup var connection: ConnectionOptions
  @OptionGroup var period: KpiPeriodOptions
  @OptionGroup var filters: KpiFilterOptions

  func run() async throws {
    var request = Tally_V1_GetRepActivityRequest()
    (request.from, request.to) = self.period.range
    request.filter = self.filters.filter
    let response = try await self.connection.unary(KpiMethods.getRepActivity, request)
    guard self.connection.output != .json else { return try Output.printMessages([response]) }
    if self.connection.output == .table {
      print("\(response.from) up to \(response.to): \(response.workingDays) working days\n")
    }
    Output.printTable(
      [["rep", "dials", "emails", "tasks", "conversations", "meetings", "accounts", "per day"]]
        + response.reps.map { rep in
          [
            rep.repID, "\(rep.dials)", "\(rep.salesEmails)", "\(rep.tasks)", "\(rep.conversations)", "\(rep.meetings)",
            "\(rep.accounts)", rep.hasActivitiesPerDay ? String(format: "%.2f", rep.activitiesPerDay) : Output.missing,
          ]
        })
  }
}
