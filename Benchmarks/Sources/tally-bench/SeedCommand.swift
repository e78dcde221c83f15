import ArgumentParser
import BenchKit
import Foundation
import TallyClient
import TallyProto
import TallyWire

/// `tally-bench seed`: many tenants of Zipf-distributed sizes, each a `DemoDataSet` (accounts,
/// contacts, campaigns, costs, opportunities, a year of events, surveys with answers) loaded
/// through the public API with the operator key, so the seed measures ingestion too.
struct SeedCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "seed", abstract: "Tenants of Zipf sizes with a year of data, loaded through the API.")
  @OptionGroup var options: BenchOptions
  @Option(help: "Tenants.") var tenants = 1_000
  @Option(help: "Accounts over all tenants.") var accounts = 200_000
  @Option(help: "Events over all tenants (each tenant's share, at most what its year of activity holds).")
  var events = 10_000_000
  @Option(help: "The largest tenant's share of the rows.") var largestShare = 0.2
  @Option(help: "Tenants loaded at once.") var parallel = 4
  @Option(help: "The day the year of data ends, YYYY-MM-DD (default: today): the same day seeds the same rows.")
  var today: String?

  func validate() throws {
    guard (1...100_000).contains(self.tenants), self.accounts >= self.tenants, self.events >= 0 else {
      throw ValidationError("--tenants must be 1 to 100000 and at most --accounts; --events ≥ 0")
    }
    guard self.largestShare > 0, self.largestShare < 1 else {
      throw ValidationError("--largest-share must be in (0, 1)")
    }
    guard (1...64).contains(self.parallel) else { throw ValidationError("--parallel must be 1 to 64") }
    _ = try self.endDay()
  }

  /// `--today` as a UTC midnight, or now: the data's year ends there, so a fixed day repeats the seed.
  func endDay() throws -> Date {
    guard let today = self.today else { return Date() }
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withFullDate]
    // Written back and compared: the formatter reads 2026-02-30 as 2026-03-02.
    guard let date = formatter.date(from: today), formatter.string(from: date) == today else {
      throw ValidationError("--today must be a day, YYYY-MM-DD, got \(today)")
    }
    return date
  }

  struct Summary: Codable {
    var tenants = 0
    var accounts = 0
    var events: UInt64 = 0
    var surveyAnswers = 0
    var seconds = 0.0
    var eventsPerSecond = 0.0
    var largestTenantID = ""
    var largestTenantAccounts = 0
    var largestTenantEvents: UInt64 = 0

    /// Spelled so that snake_case JSON (`largest_tenant_id`) reads back.
    enum CodingKeys: String, CodingKey {
      case tenants, accounts, events, surveyAnswers, seconds, eventsPerSecond, largestTenantAccounts
      case largestTenantEvents
      case largestTenantID = "largestTenantId"
    }
  }

  func run() async throws {
    let shares = ZipfShares(count: self.tenants, largestShare: self.largestShare)
    let configuration = try self.options.configuration(clientName: "tally-bench seed", useOperatorKey: true)
    let clients = try (0..<self.parallel).map { _ in try TallyClient(configuration: configuration) }
    let today = try self.endDay()
    let started = ContinuousClock.now
    var summary = Summary()
    try await withThrowingTaskGroup(of: (Int, String, Int, DemoLoader.Outcome).self) { group in
      for index in 0..<self.tenants {
        if index >= self.parallel, let done = try await group.next() { summary.add(done) }
        let client = clients[index % clients.count]
        let accounts = max(10, Int((Double(self.accounts) * shares.weights[index]).rounded()))
        let events = Int((Double(self.events) * shares.weights[index]).rounded())
        group.addTask {
          var create = Tally_V1_CreateTenantRequest()
          create.name = String(format: "bench-%05d", index + 1)
          create.currency = "EUR"
          let tenant = try await client.unary(AdminMethods.createTenant, create)
          var data = DemoDataSet(accountCount: accounts, seed: UInt64(index + 1), today: today)
          data.events = Self.evenSample(data.events, count: events)
          let outcome = try await DemoLoader(client: client, options: CallOptions(tenantID: tenant.tenantID))
            .load(data, eventsPerMessage: 1_000)
          return (index, tenant.tenantID, accounts, outcome)
        }
      }
      for try await done in group { summary.add(done) }
    }
    for client in clients { await client.close() }
    summary.seconds = (ContinuousClock.now - started).seconds
    summary.eventsPerSecond = Double(summary.events) / summary.seconds
    print(
      String(
        format: "seed: %d tenants, %d accounts, %llu events, %d survey answers in %.1f s (%.0f events/s overall)",
        summary.tenants, summary.accounts, summary.events, summary.surveyAnswers, summary.seconds,
        summary.eventsPerSecond))
    print(
      "seed: the largest tenant is \(summary.largestTenantID): \(summary.largestTenantAccounts) accounts, "
        + "\(summary.largestTenantEvents) events")
    if let path = self.options.load.json {
      try BenchJSON.write(summary, to: path)
    }
  }

  /// `count` events spread evenly over `events` (all of them when there are fewer).
  static func evenSample(_ events: [Tally_V1_Event], count: Int) -> [Tally_V1_Event] {
    guard count < events.count else { return events }
    return (0..<count).map { events[$0 * events.count / count] }
  }
}

extension SeedCommand.Summary {
  mutating func add(_ done: (index: Int, tenantID: String, accounts: Int, outcome: DemoLoader.Outcome)) {
    self.tenants += 1
    self.accounts += done.accounts
    self.events += done.outcome.newEvents
    self.surveyAnswers += done.outcome.surveyAnswers
    if done.index == 0 {
      (self.largestTenantID, self.largestTenantAccounts) = (done.tenantID, done.accounts)
      self.largestTenantEvents = done.outcome.newEvents
    }
  }
}

/// Zipf weights w(k) ∝ k^-s for ranks 1...count, with s chosen so that the first weight is
/// `largestShare` (found by bisection: the first weight grows with s).
struct ZipfShares {
  var exponent: Double
  var weights: [Double]

  init(count: Int, largestShare: Double) {
    func weights(_ s: Double) -> [Double] {
      let raw = (1...count).map { pow(Double($0), -s) }
      let total = raw.reduce(0, +)
      return raw.map { $0 / total }
    }
    var (low, high) = (0.0, 8.0)
    for _ in 0..<60 {
      let middle = (low + high) / 2
      if weights(middle)[0] < largestShare { low = middle } else { high = middle }
    }
    self.exponent = (low + high) / 2
    self.weights = weights(self.exponent)
  }
}
