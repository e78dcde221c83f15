import ArgumentParser

/// `tally`: the command-line client for tallyd.
@main
struct Tally: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "tally",
    abstract: "Talk to a Tally server.",
    discussion: """
      The server and key come from --endpoint, --ca-cert and --api-key (or --api-key-file), else \
      from TALLY_ENDPOINT, TALLY_CA_CERT and TALLY_API_KEY (or TALLY_API_KEY_FILE), else from a profile: --profile, $TALLY_PROFILE, \
      ~/.config/tally/profile.json, or ~/.config/tally/dev.json (written by `tallyd dev`). \
      $XDG_CONFIG_HOME replaces ~/.config when set.

      Exit codes: 0 done; 1 a call failed (its status is printed: CODE: message, then one line \
      per bad field); 2 an import stored some rows and rejected others; 3 an import rejected every \
      row; 64 a flag or an input file is not right (the message says which).
      """,
    subcommands: [
      Ping.self, ServerInfo.self, Call.self, Tenants.self, Keys.self, Accounts.self, Contacts.self, Campaigns.self,
      Opportunities.self, Events.self, Surveys.self, Kpis.self, JourneyCommand.self, ContentCommand.self,
      CoverageCommand.self, RepsCommand.self, InfluenceCommand.self, ReportCommand.self, AttributionCommand.self,
      Demo.self,
    ]
  )

  /// ArgumentParser's main, except that an input found wrong while the command runs (a profile,
  /// a --set value, a file) prints `error: message` and exits 64, without the root's usage text,
  /// which says nothing about it.
  static func main() async {
    let command: any ParsableCommand
    do {
      command = try Self.parseAsRoot()
    } catch {
      Self.exit(withError: error)
    }
    do {
      if var command = command as? any AsyncParsableCommand {
        try await command.run()
      } else {
        var command = command
        try command.run()
      }
    } catch let error as ValidationError {
      Output.printError("error: \(error.message)")
      Self.exit(withError: ExitCode.validationFailure)
    } catch {
      Self.exit(withError: error)
    }
  }
}
