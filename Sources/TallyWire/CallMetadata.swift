/// What a CALL's `metadata` costs a server once decoded, and how much of it one call may bring.
public enum CallMetadata {
  /// The held bytes one call's metadata may come to: a 16 KiB header of text in some 340 entries.
  /// Many tiny entries cost more decoded than their text (a header fits 2,700 two-byte keys, some
  /// 135 KB as a dictionary), and a call waiting for its request holds them uncounted.
  public static let maxHeldBytes = 32 * 1024

  /// Each entry's text, and some 48 bytes of dictionary slot and string storage beside it.
  public static func heldBytes(of metadata: [String: String]) -> Int {
    metadata.reduce(0) { $0 + 48 + $1.key.utf8.count + $1.value.utf8.count }
  }

  /// RESOURCE_EXHAUSTED for metadata above `maxHeldBytes`, as gRPC answers metadata past its limit.
  public static func refusal(of metadata: [String: String]) -> RPCError? {
    Self.refusal(entries: metadata.count, heldBytes: Self.heldBytes(of: metadata))
  }

  /// The same for metadata of `entries` entries whose `heldBytes` were counted already.
  public static func refusal(entries: Int, heldBytes: Int) -> RPCError? {
    guard heldBytes > Self.maxHeldBytes else { return nil }
    return RPCError(
      code: .resourceExhausted,
      message: "the call's metadata (\(entries) entries) counts \(heldBytes) bytes, its text and 48 per entry, "
        + "above the \(Self.maxHeldBytes) a call may bring; send fewer entries"
    )
  }
}
