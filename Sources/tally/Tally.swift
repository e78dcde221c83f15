import ArgumentParser

/// `tally`: the command-line client for tallyd.
@main
struct Tally: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "tally",
    abstract: "Talk to a Tally server.",
    discussion: """
      The server and key come from --endpoint, --ca-cert and --api-key, else from TALLY_ENDPOINT, \
      TALLY_CA_CERT and TALLY_API_KEY, else from a profile: --profile, $TALLY_PROFILE, \
      ~/.config/tally/profile.json, or ~/.config/tally/dev.json (written by `tallyd dev`). \
      $XDG_CONFIG_HOME replaces ~/.config when set.
      """,
    subcommands: [
      Ping.self, ServerInfo.self, Call.self, Tenants.self, Keys.self, Accounts.self, Contacts.self, Campaigns.self,
      Opportunities.self, Events.self, Surveys.self, Kpis.self, JourneyCommand.self, ContentCommand.self,
      CoverageCommand.self, RepsCommand.self, InfluenceCommand.self, ReportCommand.self, AttributionCommand.self,
      Demo.self,
    ]
  )
}
