import ArgumentParser
import Foundation
import TallyClient

/// Where the server is, how to reach it, and the load's shape; a `tallyd dev` profile fills in
/// the endpoint, CA and key.
struct BenchOptions: ParsableArguments {
  @Option(help: "A profile JSON (tallyd dev writes ~/.config/tally/dev.json): endpoint, ca_cert, keys.")
  var profile = "\(NSHomeDirectory())/.config/tally/dev.json"
  @Option(help: "host:port; default: the profile's.") var endpoint: String?
  @Option(help: "The CA certificate (PEM); default: the profile's.") var caCert: String?
  @Option(help: "An API key; default: the profile's tenant key, else its operator key.") var apiKey: String?
  @Option(help: "Connections (one client each).") var connections = 1
  @Option(help: "Calls in flight per connection.") var concurrency = 1
  @Option(help: "Seconds measured.") var duration = 10.0
  @Option(help: "Seconds of calls before the measurement.") var warmup = 2.0
  @Option(help: "The server's pid: its CPU seconds and peak RSS are read from /proc.") var serverPid: Int32?
  @Option(help: "Also write the result as JSON to this file.") var json: String?

  func validate() throws {
    guard (1...1_000).contains(self.connections) else { throw ValidationError("--connections must be 1 to 1000") }
    guard (1...10_000).contains(self.concurrency) else { throw ValidationError("--concurrency must be 1 to 10000") }
    guard self.duration > 0, self.warmup >= 0 else { throw ValidationError("--duration must be > 0, --warmup ≥ 0") }
  }

  /// The fields of a `tallyd dev` profile the bench reads.
  struct Profile: Decodable {
    var endpoint: String?
    var caCert: String?
    var tenantAPIKey: String?
    var operatorAPIKey: String?

    enum CodingKeys: String, CodingKey {
      case endpoint
      case caCert = "ca_cert"
      case tenantAPIKey = "tenant_api_key"
      case operatorAPIKey = "operator_api_key"
    }
  }

  func configuration(clientName: String) throws -> ClientConfiguration {
    let profile =
      FileManager.default.fileExists(atPath: self.profile)
      ? try JSONDecoder().decode(Profile.self, from: Data(contentsOf: URL(fileURLWithPath: self.profile)))
      : Profile()
    guard let endpoint = self.endpoint ?? profile.endpoint,
      let (host, port) = ClientConfiguration.parseEndpoint(endpoint)
    else { throw ValidationError("no endpoint: pass --endpoint host:port or a --profile with one") }
    guard let key = self.apiKey ?? profile.tenantAPIKey ?? profile.operatorAPIKey else {
      throw ValidationError("no API key: pass --api-key or a --profile with one")
    }
    return ClientConfiguration(
      host: host, port: port, security: .tls(caCertificatePath: self.caCert ?? profile.caCert, serverHostname: nil),
      apiKey: key, clientName: clientName)
  }
}
