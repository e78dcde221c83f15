import ArgumentParser
import TallyClient
import TallyProto
import TallyWire

/// `tally keys`: API keys of a tenant (`--tenant`), or operator keys (no tenant, operator key).
struct Keys: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Create, list and revoke API keys. --tenant names the tenant; without it, operator keys.",
    // --tenant goes in the request's tenant_id only: sent as the call's tenant too, a tenant admin key
    // naming another tenant would get the header check's answer instead of the service's clearer one.
    discussion: """
      --tenant ID says whose keys, and is sent in the request (tenant_id), not as the call's tenant. \
      With an operator key and no --tenant the commands manage operator keys (create one with \
      --scope operator). A tenant's admin key manages its own tenant's keys, --tenant or not. \
      Only the flag counts here: $TALLY_TENANT and a profile's tenant_id are not used, so that \
      a shell set up for one tenant cannot make an operator key's keys that tenant's.
      """,
    subcommands: [Create.self, List.self, Revoke.self]
  )

  /// `-o json` prints a list as one array and a single key as one object.
  static func show(_ keys: [Tally_V1_ApiKey], _ format: OutputFormat, list: Bool = false) throws {
    guard format != .json else { return try list ? Output.printMessageArray(keys) : Output.printMessages(keys) }
    Output.printTable([Self.header] + keys.map(Self.row))
  }

  static let header = ["KEY ID", "TENANT", "NAME", "SCOPES", "CREATED", "REVOKED"]

  static func row(_ key: Tally_V1_ApiKey) -> [String] {
    [
      key.keyID, key.tenantID.isEmpty ? "(operator)" : key.tenantID, key.name, key.scopes.joined(separator: ","),
      Output.time(key.createdAt), key.hasRevokedAt ? Output.time(key.revokedAt) : Output.missing,
    ]
  }

  struct Create: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Create a key and print it once: store it right away, it is never shown again."
    )
    @OptionGroup var connection: ConnectionOptions
    @Option(help: "What the key is for (1 to 200 characters).") var name: String
    @Option(name: .customLong("scope"), help: "admin, write, read or collect (repeat); operator for an operator key.")
    var scopes: [String] = []

    func run() async throws {
      var request = Tally_V1_CreateApiKeyRequest()
      request.tenantID = self.connection.tenant ?? ""
      request.name = self.name
      request.scopes = self.scopes
      let created = try await self.connection.unary(AdminMethods.createApiKey, request, sendTenant: false)
      switch self.connection.output {
      case .json: try Output.printMessages([created])
      case .csv: Output.printTable([Keys.header + ["KEY"], Keys.row(created.apiKey) + [created.key]])
      case .table:
        try Keys.show([created.apiKey], .table)
        // Last on stdout and alone on its line, so that `| tail -1` captures it.
        print("\n\(created.key)")
      }
      Output.printError("store this key now: it is not shown again")
    }
  }

  struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List keys (not their secrets).")
    @OptionGroup var connection: ConnectionOptions
    @Flag(help: "Also show revoked keys.") var includeRevoked = false

    func run() async throws {
      var request = Tally_V1_ListApiKeysRequest()
      request.tenantID = self.connection.tenant ?? ""
      request.includeRevoked = self.includeRevoked
      let keys = try await self.connection.unary(AdminMethods.listApiKeys, request, sendTenant: false).apiKeys
      try Keys.show(keys, self.connection.output, list: true)
    }
  }

  struct Revoke: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Revoke a key: it is refused from its next call.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The <key id> part of tly_<key id>_<secret>.") var keyID: String

    func run() async throws {
      var request = Tally_V1_RevokeApiKeyRequest()
      request.keyID = self.keyID
      let key = try await self.connection.unary(AdminMethods.revokeApiKey, request, sendTenant: false)
      try Keys.show([key], self.connection.output)
    }
  }
}
