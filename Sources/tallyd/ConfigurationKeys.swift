import Foundation
import TallyServer

/// The fields `tallyd serve`'s file may have, object by object: a misspelt or unknown field is an
/// error, not a setting silently left at its default.
enum ConfigurationKeys {
  static let allowed: [String: Set<String>] = [
    "": [
      "listen", "tls", "plaintext", "limits", "shutdown_grace_period_ms", "log_level", "api_keys", "database",
      "answer_sealing_key_file", "previous_answer_sealing_key_files", "metrics",
    ],
    "listen": ["host", "port"],
    "metrics": ["host", "port"],
    "tls": ["certificate_chain", "private_key"],
    "limits": [
      "max_frame_payload", "max_concurrent_streams", "idle_timeout_ms", "handshake_timeout_ms",
      "tenant_calls_per_second", "tenant_call_burst", "max_connections_per_key",
      "max_connections_per_tenant", "max_handshakes_per_address",
      "max_held_request_bytes", "max_server_held_request_bytes", "frame_timeout_ms",
    ],
    "database": ["url", "owner_url", "pool_size", "migrations"],
    "api_keys[]": ["key", "scopes", "tenant_id"],
  ]

  /// Throws for the first field of `json` that `allowed` does not list, naming it and its object's fields.
  static func check(_ json: Data, file: String) throws {
    guard let top = try? JSONSerialization.jsonObject(with: json) else { return }  // the decoder says why
    if let unknown = self.firstUnknown(top, at: "") { throw ServerConfigurationError("\(file): \(unknown)") }
  }

  private static func firstUnknown(_ value: Any, at path: String) -> String? {
    if let array = value as? [Any] {
      return array.lazy.compactMap { self.firstUnknown($0, at: path + "[]") }.first
    }
    guard let object = value as? [String: Any], let fields = self.allowed[path] else { return nil }
    for (key, nested) in object.sorted(by: { $0.key < $1.key }) {
      guard fields.contains(key) else {
        let owner = path.isEmpty ? "the file" : path
        return "unknown field \(path.isEmpty ? key : "\(path).\(key)"); \(owner) may have "
          + fields.sorted().joined(separator: ", ")
      }
      if let unknown = self.firstUnknown(nested, at: path.isEmpty ? key : "\(path).\(key)") { return unknown }
    }
    return nil
  }
}
