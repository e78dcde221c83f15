import ArgumentParser
import Foundation
import TallyClient
import TallyProto
import TallyWire

/// `tally-bench kpi`: GetKpis of the default dashboard for one tenant (the key's) and one quarter,
/// the last full one unless `--from`/`--to` say otherwise.
struct KpiScenario: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "kpi", abstract: "GetKpis of the default dashboard, one tenant, one quarter.")
  @OptionGroup var options: BenchOptions
  @Option(help: "The period's first day, YYYY-MM-DD; default: the last full quarter's.") var from: String?
  @Option(help: "The day after the period, YYYY-MM-DD.") var to: String?
  @Option(help: "Seconds a call may take before it counts as an error.") var timeout = 60.0

  func run() async throws {
    var request = Tally_V1_GetKpisRequest()
    let quarter = Self.lastFullQuarter(before: Date())
    request.from = self.from ?? quarter.from
    request.to = self.to ?? quarter.to
    let message = request
    var callOptions = self.options.callOptions
    callOptions.timeout = .milliseconds(Int(self.timeout * 1_000))
    print("kpi: the default dashboard from \(message.from) to \(message.to)")
    let options = callOptions
    try await Scenario.run("kpi", self.options) { client in
      let response = try await client.unary(KpiMethods.getKpis, message, options: options)
      guard !response.kpis.isEmpty else { throw ValidationError("GetKpis answered no KPI") }
      return 1
    }
  }

  /// `YYYY-MM-DD` of the first day of the last quarter that has ended, and of the day after it.
  static func lastFullQuarter(before date: Date) -> (from: String, to: String) {
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = .gmt
    let parts = calendar.dateComponents([.year, .month], from: date)
    let (year, month) = (parts.year ?? 1970, parts.month ?? 1)
    let thisQuarter = (month - 1) / 3 * 3 + 1
    let (fromYear, fromMonth) = thisQuarter == 1 ? (year - 1, 10) : (year, thisQuarter - 3)
    return (
      String(format: "%04d-%02d-01", fromYear, fromMonth), String(format: "%04d-%02d-01", year, thisQuarter)
    )
  }
}
