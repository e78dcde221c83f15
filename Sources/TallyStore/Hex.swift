/// Lowercase hexadecimal text of bytes: token hashes, key ids, bytea text. A table lookup, where
/// `String(format: "%02x")` per byte cost more than the rest of a SubmitResponse call.
package enum Hex {
  private static let digits = Array("0123456789abcdef".utf8)

  package static func encode<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> String {
    var text: [UInt8] = []
    text.reserveCapacity(bytes.underestimatedCount * 2)
    for byte in bytes {
      text.append(Self.digits[Int(byte >> 4)])
      text.append(Self.digits[Int(byte & 0x0f)])
    }
    return String(decoding: text, as: UTF8.self)
  }
}
