import ArgumentParser
import Foundation
import Synchronization
import TallyClient

/// The options of every command that talks to a server: where, as whom, and how to print.
struct ConnectionOptions: ParsableArguments {
  @Option(help: "The server, host:port. Default: $TALLY_ENDPOINT, else the profile's endpoint.")
  var endpoint: String?

  @Option(help: "PEM file of the CA to trust. Default: $TALLY_CA_CERT, else the profile's ca_cert, else the system's.")
  var caCert: String?

  @Option(help: "The API key. Default: $TALLY_API_KEY, else the profile's api_key or operator_api_key.")
  var apiKey: String?

  @Option(
    help: ArgumentHelp(
      "A file holding the API key, so that it is in no command line or environment. Default: $TALLY_API_KEY_FILE.",
      valueName: "path"))
  var apiKeyFile: String?

  @Option(
    help: """
      For operator keys: the tenant the call acts on. Default: $TALLY_TENANT, else a dev profile's tenant_id \
      (not for `tally keys`, which without --tenant acts on operator keys).
      """)
  var tenant: String?

  @Option(help: "Fail a call that takes longer than this many seconds (at most 2592000: 30 days).")
  var timeout: Double?

  @Option(help: "Profile file. Default: $TALLY_PROFILE, else ~/.config/tally/profile.json, else .../dev.json.")
  var profile: String?

  @Option(name: [.short, .long], help: "How to print results: table, json, or csv (tables only).")
  var output: OutputFormat = .table

  func validate() throws {
    Output.selectedFormat.withLock { $0 = self.output }
    if let endpoint, ClientConfiguration.parseEndpoint(endpoint) == nil {
      throw ValidationError("--endpoint must be host:port, got \"\(endpoint)\"")
    }
    // An empty value (an unset shell variable, say) would silently mean "none" or a bad key.
    if self.tenant?.isEmpty == true { throw ValidationError("--tenant is empty: name a tenant, or leave it out") }
    if self.apiKey?.isEmpty == true { throw ValidationError("--api-key is empty: give a key, or leave it out") }
    if self.apiKeyFile?.isEmpty == true {
      throw ValidationError("--api-key-file is empty: name a file, or leave it out")
    }
    if self.apiKey != nil, self.apiKeyFile != nil {
      throw ValidationError("--api-key and --api-key-file both name a key: give one of them")
    }
    if let timeout, CallOptions.timeout(seconds: timeout) == nil {
      throw ValidationError(
        "--timeout must be a number of seconds above 0 and at most \(CallOptions.maxTimeout.components.seconds) "
          + "(30 days: the server keeps no longer deadline), got \(timeout)")
    }
  }

  /// The client configuration and call options: each setting from its flag, else the
  /// environment, else the profile, so a flag can override a profile for one command.
  func resolve(
    environment: [String: String] = ProcessInfo.processInfo.environment
  ) throws -> (ClientConfiguration, CallOptions) {
    func setting(_ flag: String?, _ name: String, _ variable: String) -> (value: String, source: String)? {
      if let flag { return (flag, name) }
      if let value = environment[variable], !value.isEmpty { return (value, variable) }
      return nil
    }
    var endpoint = setting(self.endpoint, "--endpoint", "TALLY_ENDPOINT")
    var caCert = setting(self.caCert, "--ca-cert", "TALLY_CA_CERT")
    var apiKey = try self.apiKeySetting(environment)
    var tenant = setting(self.tenant, "--tenant", "TALLY_TENANT")?.value
    // A profile's CA and key are for its own server: another endpoint takes neither (the dev CA
    // would refuse a real server's certificate, and the dev key would be sent to it).
    var otherServersProfile: String?
    if endpoint == nil || caCert == nil || apiKey == nil || self.profile != nil,
      let (profile, path) = try Profile.load(explicitPath: self.profile, environment: environment)
    {
      if let given = endpoint, let own = profile.endpoint, !Self.sameServer(given.value, own) {
        otherServersProfile = "\(path) is for \(own), not \(given.value)"
      } else {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
        endpoint = endpoint ?? profile.endpoint.map { ($0, path) }
        caCert = caCert ?? profile.caCert.map { (URL(fileURLWithPath: $0, relativeTo: directory).path, path) }
        // A dev profile's operator key acts on the demo tenant unless told otherwise.
        if apiKey == nil, (profile.apiKey ?? "").isEmpty { tenant = tenant ?? profile.tenantID }
        apiKey = apiKey ?? profile.key.map { ($0, path) }
      }
    }
    guard let endpoint else {
      throw ValidationError(
        "no server to talk to: pass --endpoint host:port, set TALLY_ENDPOINT, or start a development "
          + "server with `make run` (or `tallyd dev`), which writes ~/.config/tally/dev.json"
      )
    }
    guard let (host, port) = ClientConfiguration.parseEndpoint(endpoint.value) else {
      throw ValidationError("the endpoint \"\(endpoint.value)\" from \(endpoint.source) is not host:port")
    }
    guard let apiKey else {
      throw ValidationError(
        "no API key: pass --api-key or --api-key-file, set TALLY_API_KEY or TALLY_API_KEY_FILE, or add api_key to the profile"
          + (otherServersProfile.map { " (the profile's key is not used: \($0))" } ?? ""))
    }
    if let caCert, !FileManager.default.isReadableFile(atPath: caCert.value) {
      throw ValidationError("cannot read the CA certificate \(caCert.value) (from \(caCert.source))")
    }
    let timeout = self.timeout.flatMap(CallOptions.timeout(seconds:))
    let configuration = ClientConfiguration(
      host: host,
      port: port,
      security: .tls(caCertificatePath: caCert?.value, serverHostname: nil),
      apiKey: apiKey.value,
      clientName: "tally-cli",
      connectTimeout: min(timeout ?? .seconds(10), .seconds(10))
    )
    return (configuration, CallOptions(timeout: timeout, tenantID: tenant))
  }

  /// Whether two endpoints name one server: the same host and port, the loopback names alike.
  static func sameServer(_ first: String, _ second: String) -> Bool {
    guard let (firstHost, firstPort) = ClientConfiguration.parseEndpoint(first),
      let (secondHost, secondPort) = ClientConfiguration.parseEndpoint(second), firstPort == secondPort
    else { return false }
    let loopback: Set<String> = ["localhost", "127.0.0.1", "::1"]
    return firstHost.lowercased() == secondHost.lowercased()
      || (loopback.contains(firstHost.lowercased()) && loopback.contains(secondHost.lowercased()))
  }

  /// The key from the first of --api-key, --api-key-file, $TALLY_API_KEY and $TALLY_API_KEY_FILE.
  private func apiKeySetting(_ environment: [String: String]) throws -> (value: String, source: String)? {
    func variable(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
    if let key = self.apiKey { return (key, "--api-key") }
    if let path = self.apiKeyFile { return (try Self.readKey(path, from: "--api-key-file"), path) }
    if let key = variable("TALLY_API_KEY") { return (key, "TALLY_API_KEY") }
    if let path = variable("TALLY_API_KEY_FILE") { return (try Self.readKey(path, from: "TALLY_API_KEY_FILE"), path) }
    return nil
  }

  /// The key a file holds: its one line, without the line's end or surrounding spaces.
  static func readKey(_ path: String, from source: String) throws -> String {
    guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
      throw ValidationError("cannot read the API key file \(path) (from \(source))")
    }
    let key = text.trimmingCharacters(in: .whitespacesAndNewlines)
    guard !key.isEmpty, !key.contains(where: \.isNewline) else {
      throw ValidationError("the API key file \(path) (from \(source)) must hold one key on one line")
    }
    return key
  }
}
