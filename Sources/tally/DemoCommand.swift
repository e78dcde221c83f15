import ArgumentParser
import Foundation
import TallyClient
import TallyProto
import TallyWire

/// `tally demo seed`: fills a tenant with the demo data set, through the same API a client uses.
struct Demo: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Demo data for a tenant.", subcommands: [Seed.self])

  struct Seed: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Fill the tenant with a realistic, deterministic data set: accounts, a year of events, surveys.",
      discussion: """
        300 accounts in four tiers with contacts, 8 campaigns with targets and monthly costs, a year of events, \
        opportunities, an NPS survey and an eNPS survey with two answered rounds each, and a weekly pulse survey. \
        Accounts, events and costs are upserts or idempotent, so a second run adds nothing but new survey rounds; \
        --if-empty skips a tenant that has accounts already, but finishes a demo seed that was cut short (the \
        demo's accounts without its last survey; the surveys it left half done are archived) (make run uses it).
        """
    )
    @OptionGroup var connection: ConnectionOptions
    @Flag(help: "Do nothing when the tenant has accounts already, unless a demo seed was cut short: then finish it.")
    var ifEmpty = false
    @Option(help: "How many accounts, 10 to 5000.") var accounts = 300

    func validate() throws {
      guard (10...5_000).contains(self.accounts) else {
        throw ValidationError("--accounts must be 10 to 5000, got \(self.accounts)")
      }
    }

    func run() async throws {
      let data = DemoDataSet(accountCount: self.accounts)
      try await self.connection.withClient { session in
        let client = session.client
        let options = session.options
        let loader = DemoLoader(client: client, options: options)
        var finishing = false
        if self.ifEmpty {
          switch try await loader.seedState(of: data) {
          case .empty: break
          case .cutShort:
            finishing = true
            Output.printError("demo seed: an earlier seed was cut short; finishing it")
          case .complete, .otherData:
            guard self.connection.output != .json else { return try Output.printJSON(SeedSummary(skipped: true)) }
            print("demo seed: the tenant has accounts already; nothing to do")
            return
          }
        }
        let summary = SeedSummary(data, try await loader.load(data, finishing: finishing))
        guard self.connection.output != .json else { return try Output.printJSON(summary) }
        print(summary.line)
      }
    }
  }

  /// What a seed stored, for `-o json`; `skipped` when --if-empty found accounts (no counts then).
  struct SeedSummary: Encodable {
    var skipped: Bool
    var accounts: Int?
    var contacts: Int?
    var campaigns: Int?
    var opportunities: Int?
    var newEvents: UInt64?
    var duplicateEvents: UInt64?
    var surveyAnswers: Int?

    init(skipped: Bool) { self.skipped = skipped }

    init(_ data: DemoDataSet, _ outcome: DemoLoader.Outcome) {
      self.skipped = false
      (self.accounts, self.contacts) = (data.accounts.count, data.contacts.count)
      (self.campaigns, self.opportunities) = (data.campaigns.count, data.opportunities.count)
      (self.newEvents, self.duplicateEvents) = (outcome.newEvents, outcome.duplicateEvents)
      self.surveyAnswers = outcome.surveyAnswers
    }

    /// The same counts for people.
    var line: String {
      "demo seed: \(self.accounts ?? 0) accounts, \(self.contacts ?? 0) contacts, \(self.campaigns ?? 0) campaigns, "
        + "\(self.opportunities ?? 0) opportunities, \(self.newEvents ?? 0) new events "
        + "(\(self.duplicateEvents ?? 0) already there), \(self.surveyAnswers ?? 0) survey answers"
    }
  }
}
