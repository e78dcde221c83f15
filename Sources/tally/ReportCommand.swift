import ArgumentParser
import Foundation
import TallyClient
import TallyProto
import TallyWire

/// `tally report --html FILE`: the dashboard, journey, engagement, influence, campaigns, NPS and
/// customer health on one self-contained page.
struct ReportCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "report",
    abstract: "One self-contained HTML page (inline SVG charts, no scripts) with the period's ABM picture.",
    discussion: """
      Sections: the headline KPIs with trends, the journey funnel and CTAs, the most engaged accounts, win rate and \
      sales cycle by engagement quartile, campaigns with attributed revenue and ROI, NPS and eNPS over twelve \
      months, and the customers to look after. Each says what it shows, for readers who have never seen Tally.
      """
  )
  @OptionGroup var connection: ConnectionOptions
  @OptionGroup var period: KpiPeriodOptions
  @Option(help: "Where to write the page.") var html: String

  func run() async throws {
    // A page that cannot be written is a flag not right (exit 64), said before any call is made.
    let directory = URL(fileURLWithPath: self.html).deletingLastPathComponent().path
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue,
      FileManager.default.isWritableFile(atPath: directory)
    else {
      throw ValidationError("--html: cannot write \(self.html): \(directory) is not a directory this user may write in")
    }
    let (from, to) = self.period.range
    // Account views as of the period's end, or of now while the period runs.
    let tomorrow = Self.day(Date().addingTimeInterval(86_400))
    let asOf = min(to, tomorrow)
    let report = try await self.connection.withClient { session in
      let (client, options) = (session.client, session.options)
      var report = HtmlReport()
      var dashboard = Tally_V1_GetKpisRequest()
      (dashboard.from, dashboard.to) = (from, to)
      dashboard.bucket = "month"
      report.dashboard = try await client.unary(KpiMethods.getKpis, dashboard, options: options)
      let catalogue = try await client.unary(KpiMethods.listKpis, .init(), options: options)
      report.definitions = Dictionary(catalogue.kpis.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
      var journey = Tally_V1_GetJourneyRequest()
      journey.asOf = asOf
      report.journey = try await client.unary(KpiMethods.getJourney, journey, options: options)
      var engagement = Tally_V1_GetAccountEngagementRequest()
      engagement.asOf = asOf
      engagement.limit = 15
      report.engagement = try await client.unary(KpiMethods.getAccountEngagement, engagement, options: options)
      var influence = Tally_V1_GetInfluenceRequest()
      (influence.from, influence.to) = (from, to)
      report.influence = try await client.unary(KpiMethods.getInfluence, influence, options: options)
      var attribution = Tally_V1_GetAttributionRequest()
      (attribution.from, attribution.to) = (from, to)
      report.attribution = try await client.unary(KpiMethods.getAttribution, attribution, options: options)
      var surveys = Tally_V1_GetKpisRequest()
      surveys.names = ["nps", "enps"]
      (surveys.from, surveys.to) = (Self.yearBefore(to), to)
      surveys.bucket = "month"
      report.surveyTrend = try await client.unary(KpiMethods.getKpis, surveys, options: options)
      var health = Tally_V1_GetAccountHealthRequest()
      health.asOf = asOf
      health.limit = 10
      report.health = try await client.unary(KpiMethods.getAccountHealth, health, options: options)
      return report
    }
    let page = report.render()
    do {
      try Data(page.utf8).write(to: URL(fileURLWithPath: self.html), options: .atomic)
    } catch {
      Output.printError("error: cannot write \(self.html): \(error.localizedDescription)")
      throw ExitCode.failure
    }
    guard self.connection.output != .json else {
      return try Output.printJSON(Written(file: self.html, bytes: page.utf8.count, from: from, to: to))
    }
    print("wrote \(self.html) (\(page.utf8.count / 1_024) KB): \(from) up to \(to)")
  }

  /// The page written, for `-o json`.
  struct Written: Encodable {
    var file: String
    var bytes: Int
    var from: String
    var to: String
  }

  static func day(_ date: Date) -> String {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withFullDate]
    return formatter.string(from: date)
  }

  /// The same day a year earlier (28 February for a 29th).
  static func yearBefore(_ day: String) -> String {
    guard let year = Int(day.prefix(4)) else { return day }
    let rest = day.dropFirst(4)
    return "\(year - 1)\(rest == "-02-29" ? "-02-28" : String(rest))"
  }
}
