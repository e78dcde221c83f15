import ArgumentParser
import BenchKit
import Foundation
import TallyClient

/// `tally-bench copy-baseline`: the ceiling for ingestion. psql's `\copy` of the same generated
/// events into the same tables the server fills (`events` and `event_keys`; not the rollups), as
/// a superuser since COPY refuses tables under forced row-level security, timed from psql's start to its exit.
struct CopyBaseline: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "copy-baseline", abstract: "psql \\copy of generated events (the ingest baseline).")
  @Option(help: "A tallyd dev profile: its tenant_id (and database_url unless --database-url).")
  var profile = "\(NSHomeDirectory())/.config/tally/dev.json"
  @Option(help: "A superuser (tallyd dev: tally_superuser): COPY does not run under forced row-level security.")
  var databaseURL: String?
  @Option(help: "Events to copy.") var events = 1_000_000
  @Option(help: "Accounts the events are spread over.") var accounts = 2_000
  @Option(help: "Also write the result as JSON to this file.") var json: String?

  struct Result: Codable {
    var scenario = "psql copy"
    var events: Int
    var seconds: Double
    var eventsPerSecond: Double
  }

  func run() async throws {
    let profile = try Profile.read(self.profile)
    guard let url = self.databaseURL ?? profile.databaseURL, let tenant = profile.tenantID else {
      throw ValidationError("the profile has no database_url and tenant_id (tallyd dev writes both)")
    }
    let generator = EventGenerator(
      seed: 7, keyPrefix: "copy-\(UInt32.random(in: .min ... .max))-", accounts: self.accounts,
      end: Int64(Date().timeIntervalSince1970))
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tally-copy-\(getpid())")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let text = generator.copyText(0..<UInt64(self.events), tenantID: tenant)
    let eventsFile = directory.appendingPathComponent("events.copy").path
    let keysFile = directory.appendingPathComponent("keys.copy").path
    try text.events.write(toFile: eventsFile, atomically: false, encoding: .utf8)
    try text.keys.write(toFile: keysFile, atomically: false, encoding: .utf8)

    let setTenant = "SET tally.tenant_id = '\(tenant)'"
    try Self.psql(
      url, [setTenant, "SELECT ensure_event_partitions((now() - interval '13 months')::date, now()::date)"])
    let started = ContinuousClock.now
    try Self.psql(
      url,
      [
        setTenant, "\\copy events (\(EventGenerator.eventColumns)) FROM '\(eventsFile)'",
        "\\copy event_keys (tenant_id, event_key, occurred_at) FROM '\(keysFile)'",
      ])
    let seconds = (ContinuousClock.now - started).seconds
    let result = Result(events: self.events, seconds: seconds, eventsPerSecond: Double(self.events) / seconds)
    print(String(format: "psql copy: %d events in %.2f s, %.0f events/s", self.events, seconds, result.eventsPerSecond))
    if let path = self.json {
      try BenchJSON.write(result, to: path)
    }
  }

  /// Runs psql with one `-c` per command, in one session, stopping at the first error.
  static func psql(_ url: String, _ commands: [String]) throws {
    _ = try Psql.run(url, ["-v", "ON_ERROR_STOP=1"] + commands.flatMap { ["-c", $0] }, running: commands.last ?? "")
  }
}
