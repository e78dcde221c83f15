import Foundation
import TallyWire

/// Turns the API key of a HELLO into a principal.
public protocol Authenticator: Sendable {
  /// The key's principal; throws `RPCError` `.unauthenticated` with a message for the client when the
  /// key is refused, any other error when it could not be checked (the client gets GOAWAY OVERLOADED).
  func authenticate(apiKey: String) async throws -> Principal

  /// Called before each call: throws when the key was revoked or its tenant suspended since HELLO.
  func revalidate(_ principal: Principal) async throws
}

extension Authenticator {
  /// Keys that cannot change while the server runs need no re-check.
  public func revalidate(_ principal: Principal) async throws {}
}

/// An API key's two parts: `tly_<key id>_<secret>`.
public struct APIKey: Sendable, Hashable {
  public var keyID: String
  public var secret: String

  public init(keyID: String, secret: String) {
    self.keyID = keyID
    self.secret = secret
  }

  /// Parses `tly_<key id>_<secret>`: the key id is 1 to 64 lower-case letters and digits, the
  /// secret 1 to 256 bytes. Issued keys have 16 and 64; the bounds keep a made-up key of
  /// megabytes out of the database query that looks it up.
  /// Split on bytes, not Characters: comparing Characters normalizes them, in time quadratic in a
  /// made-up key's run of combining marks (StreamSafeText), before the key is known.
  public init?(parsing text: String) {
    let parts = text.utf8.split(separator: UInt8(ascii: "_"), maxSplits: 2, omittingEmptySubsequences: false)
    guard parts.count == 3, parts[0].elementsEqual("tly".utf8), (1...64).contains(parts[1].count),
      (1...256).contains(parts[2].count),
      parts[1].allSatisfy({ ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) })
    else { return nil }
    self.keyID = String(Substring(parts[1]))
    self.secret = String(Substring(parts[2]))
  }

  public var text: String { "tly_\(self.keyID)_\(self.secret)" }

  /// Compares secrets in time that depends only on their lengths, not on where they differ.
  public static func secretsMatch(_ lhs: some Collection<UInt8>, _ rhs: some Collection<UInt8>) -> Bool {
    guard lhs.count == rhs.count else { return false }
    var difference: UInt8 = 0
    for (left, right) in zip(lhs, rhs) { difference |= left ^ right }
    return difference == 0
  }
}

/// Keys fixed at start-up (the configuration file's), until keys live in the database.
public struct StaticKeyAuthenticator: Authenticator {
  private let keys: [String: (secret: [UInt8], principal: Principal)]

  public init(_ keys: [(APIKey, Principal)]) {
    var table: [String: (secret: [UInt8], principal: Principal)] = [:]
    for (key, principal) in keys { table[key.keyID] = (Array(key.secret.utf8), principal) }
    self.keys = table
  }

  public func authenticate(apiKey: String) async throws -> Principal {
    guard let key = APIKey(parsing: apiKey) else {
      throw RPCError(code: .unauthenticated, message: "the API key is not of the form tly_<key id>_<secret>")
    }
    guard let entry = self.keys[key.keyID], APIKey.secretsMatch(entry.secret, Array(key.secret.utf8)) else {
      throw RPCError(code: .unauthenticated, message: "the API key is not valid")
    }
    return entry.principal
  }
}

extension Principal {
  /// Checks a method's access rule and picks the tenant the call acts on.
  ///
  /// An operator key may name one tenant per call; a tenant key acts on its own tenant only.
  /// A tenant id is a UUID (36 characters); the tenant methods check its form.
  static let maxTenantIDLength = 64

  public func authorize(_ access: Access, requestedTenant: String) throws -> String? {
    if case .scopes(let allowed) = access, self.scopes.isDisjoint(with: allowed) {
      let names = allowed.map(\.rawValue).sorted().joined(separator: ", ")
      throw RPCError(code: .permissionDenied, message: "this method needs one of the scopes: \(names)")
    }
    if self.isOperator {
      // Checked before the tenant's call rate keeps a bucket by this name: a name of megabytes
      // per made-up tenant would otherwise hold a thousand of them in memory. Normalized as the
      // tenant's own keys name it, so that an upper-case id shares its bucket and its rate.
      guard requestedTenant.utf8.count <= Self.maxTenantIDLength else {
        throw RPCError.invalidArgument(
          field: "tenant_id", "must be a tenant's id (a UUID), got \(requestedTenant.utf8.count) bytes")
      }
      guard !requestedTenant.isEmpty else { return nil }
      return Self.normalized(requestedTenant)
    }
    // Its own tenant in any case, as an operator's key may name one.
    guard requestedTenant.isEmpty || Self.normalized(requestedTenant) == self.tenantID else {
      throw RPCError(
        code: .permissionDenied,
        message: "tenant_id in the call header may only be set by operator keys"
      )
    }
    return self.tenantID
  }

  /// A tenant id as the database writes it (lower case) when it is a UUID; anything else as given,
  /// for the methods to refuse with their field.
  private static func normalized(_ tenant: String) -> String {
    UUID(uuidString: tenant).map { $0.uuidString.lowercased() } ?? tenant
  }
}
