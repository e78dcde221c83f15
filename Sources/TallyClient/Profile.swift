public import Foundation

/// A profile file's fields: the defaults for a server and its keys. `tallyd dev` writes `dev.json`
/// with all of them but `api_key`; the CLI and tally-bench both read profiles through this type.
public struct Profile: Decodable, Sendable {
  public var endpoint: String?
  public var caCert: String?
  public var apiKey: String?
  public var operatorAPIKey: String?
  public var tenantID: String?
  public var tenantAPIKey: String?
  public var databaseURL: String?

  enum CodingKeys: String, CodingKey {
    case endpoint
    case caCert = "ca_cert"
    case apiKey = "api_key"
    case operatorAPIKey = "operator_api_key"
    case tenantID = "tenant_id"
    case tenantAPIKey = "tenant_api_key"
    case databaseURL = "database_url"
  }

  public init() {}

  /// `api_key` when the profile names one, else the operator key of a dev profile.
  public var key: String? { [self.apiKey, self.operatorAPIKey].compactMap { $0 }.first { !$0.isEmpty } }

  /// The profile in `data` (a JSON object of strings).
  public static func decode(_ data: Data) throws -> Profile { try JSONDecoder().decode(Profile.self, from: data) }
}
