/// What an API key may do (DESIGN.md, "Tenancy and security").
public enum Scope: String, Sendable, Hashable, CaseIterable, Codable {
  /// The agency: manages tenants and may act on one tenant per call.
  case `operator`
  case admin
  case write
  case read
  /// Survey answers only.
  case collect
}

/// Who is calling: the key HELLO authenticated.
public struct Principal: Sendable, Hashable {
  public var keyID: String
  /// The key's tenant; nil for an operator key.
  public var tenantID: String?
  public var scopes: Set<Scope>

  public init(keyID: String, tenantID: String?, scopes: Set<Scope>) {
    self.keyID = keyID
    self.tenantID = tenantID
    self.scopes = scopes
  }

  public var isOperator: Bool { self.scopes.contains(.operator) }
}
