/// How a client stream's error says what of it stays stored, each message in its own transaction:
/// the server appends `suffix` to the error's message, and a client reads it back with `messages`
/// to tell its user where the stored part ends.
public enum StreamStored {
  /// "; this stream's first N messages (0 to N-1) were stored before it" (N at least 1).
  public static func suffix(_ stored: UInt32) -> String {
    let messages = stored == 1 ? "message (0) was" : "\(stored) messages (0 to \(stored - 1)) were"
    return "; this stream's first \(messages) stored before it"
  }

  /// The N of a message that ends with `suffix(N)`, nil for one that does not.
  public static func messages(in message: String) -> UInt32? {
    if message.hasSuffix(Self.suffix(1)) { return 1 }
    let parts = message.split(separator: "; this stream's first ", omittingEmptySubsequences: false)
    guard parts.count > 1, let rest = parts.last, let count = UInt32(rest.prefix { $0.isNumber }), count > 1,
      message.hasSuffix(Self.suffix(count))
    else { return nil }
    return count
  }
}
