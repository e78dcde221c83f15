import ArgumentParser

/// `tally accounts`: the tenant's accounts, and CSV imports of accounts and contacts.
struct Accounts: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "List, show, upsert, delete and import accounts.",
    subcommands: DataCommands<AccountEntity>.subcommands
  )
}

/// `tally contacts`.
struct Contacts: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "List, show, upsert and delete contacts.",
    subcommands: DataCommands<ContactEntity>.subcommands
  )
}

/// `tally campaigns`.
struct Campaigns: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "List, show, upsert and delete campaigns.",
    subcommands: DataCommands<CampaignEntity>.subcommands
  )
}

/// `tally opportunities`.
struct Opportunities: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "List, show, upsert and delete opportunities.",
    subcommands: DataCommands<OpportunityEntity>.subcommands
  )
}
