import ArgumentParser
import BenchKit
import Foundation
import TallyClient

/// Where the server is, how to reach it, and the load's shape; a `tallyd dev` profile fills in
/// the endpoint, CA and key.
struct BenchOptions: ParsableArguments {
  @Option(help: "A profile JSON (tallyd dev writes ~/.config/tally/dev.json): endpoint, ca_cert, keys.")
  var profile = "\(NSHomeDirectory())/.config/tally/dev.json"
  @Option(help: "host:port; default: the profile's.") var endpoint: String?
  @Option(help: "The CA certificate (PEM); default: the profile's.") var caCert: String?
  @Option(help: "An API key; default: the profile's tenant key (its operator key with --tenant).") var apiKey: String?
  @Option(help: "Act on this tenant with the operator key (e.g. the largest one `seed` made).") var tenant: String?
  @OptionGroup var load: LoadOptions

  func readProfile() throws -> Profile { try Profile.read(self.profile) }

  func configuration(clientName: String, useOperatorKey: Bool = false) throws -> ClientConfiguration {
    let profile = try self.readProfile()
    guard let endpoint = self.endpoint ?? profile.endpoint,
      let (host, port) = ClientConfiguration.parseEndpoint(endpoint)
    else { throw ValidationError("no endpoint: pass --endpoint host:port or a --profile with one") }
    let profileKey =
      self.tenant != nil || useOperatorKey
      ? profile.operatorAPIKey : profile.tenantAPIKey ?? profile.operatorAPIKey
    guard let key = self.apiKey ?? profileKey else {
      throw ValidationError("no API key: pass --api-key or a --profile with one")
    }
    return ClientConfiguration(
      host: host, port: port, security: .tls(caCertificatePath: self.caCert ?? profile.caCert, serverHostname: nil),
      apiKey: key, clientName: clientName)
  }

  /// What every call of a scenario carries: the tenant an operator key acts on.
  var callOptions: CallOptions { CallOptions(tenantID: self.tenant) }
}

extension Profile {
  /// The profile at `path`; an empty one when there is no file (every option then comes by flag).
  static func read(_ path: String) throws -> Profile {
    guard FileManager.default.fileExists(atPath: path) else { return Profile() }
    return try Profile.decode(Data(contentsOf: URL(fileURLWithPath: path)))
  }
}
