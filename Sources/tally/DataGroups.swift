import ArgumentParser
import TallyClient

/// `tally accounts`: the tenant's accounts, and CSV imports of accounts and contacts.
struct Accounts: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "List, show, upsert, delete and import accounts; rank them by engagement.",
    subcommands: DataCommands<AccountEntity>.subcommands + [Import.self, Top.self, Health.self, PastTenures.self]
  )

  struct Import: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Import accounts from a CSV file (HubSpot and Salesforce company exports as they are).",
      discussion: """
        Columns are matched by name: id (Record ID, Account ID), name (Company name, Account Name), domain \
        (Website, Company Domain Name), industry, employee_count (Number of Employees), annual_revenue, owner \
        (Company owner, Account Owner), tier (ABM Tier, Target Tier), in_icp (ICP), customer_since, churned_at, \
        arr. Other columns: --map "Column=field" or --map "Column=attributes.key". Rows are upserts, so a \
        second run of the same file changes nothing. Amounts (annual_revenue, arr) take a decimal point \
        (1,234.56), or in a semicolon-separated file a decimal comma (1.234,56); a thousands separator must \
        stand before three digits, so 12,50 in a comma-separated file is rejected rather than guessed.
        """
    )
    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var options: ImportOptions

    func run() async throws {
      try await Importer(kind: .accounts, options: self.options, connection: self.connection).run()
    }
  }
}

/// `tally contacts`.
struct Contacts: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "List, show, upsert, delete and import contacts.",
    subcommands: DataCommands<ContactEntity>.subcommands + [Import.self]
  )

  struct Import: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Import contacts from a CSV file; their accounts must exist (import accounts first).",
      discussion: """
        Columns: id (Record ID), account_id (Associated Company ID, Account ID), email (Email Address), name or \
        first_name + last_name, title (Job Title), role (Buying Role), department; others with --map.
        """
    )
    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var options: ImportOptions

    func run() async throws {
      try await Importer(kind: .contacts, options: self.options, connection: self.connection).run()
    }
  }
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

/// `tally events`: engagement events.
struct Events: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Import engagement events.",
    subcommands: [Import.self]
  )

  struct Import: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Import events from CSV or NDJSON (one tally.v1.Event in JSON per line).",
      discussion: """
        CSV columns: key (Event ID), occurred_at (Timestamp, Date), type (Event Type), account_id, contact_id, \
        campaign_id, asset_id, duration_seconds, value, rep_id; others with --map "Column=properties.key". \
        Keys make the import idempotent: running it again stores nothing twice.
        """
    )
    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var options: ImportOptions

    func run() async throws {
      try await Importer(kind: .events, options: self.options, connection: self.connection).run()
    }
  }
}
