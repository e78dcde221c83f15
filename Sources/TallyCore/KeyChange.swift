/// A change that may end API keys' passes: one key revoked or deleted, a tenant suspended (or
/// resumed, or deleted), or anything at all when the changes themselves may have been missed.
/// Migration 0029 announces the first two on the database channel `channel` as `payload`s.
public enum KeyChange: Sendable, Hashable {
  case key(String)
  case tenant(String)
  case everything

  /// The database channel the changes are announced on.
  public static let channel = "tally_key_changes"

  /// The change a notification's payload names ("key:<key id>" or "tenant:<tenant id>"); anything
  /// else is `.everything`, so that a payload this build does not know drops too much, not too little.
  public init(payload: String) {
    if payload.hasPrefix("key:") {
      self = .key(String(payload.dropFirst(4)))
    } else if payload.hasPrefix("tenant:") {
      self = .tenant(String(payload.dropFirst(7)))
    } else {
      self = .everything
    }
  }
}
