/// Lowercase hexadecimal text of bytes: token hashes and key ids. A table lookup, where
/// `String(format: "%02x")` per byte cost more than the rest of a SubmitResponse call.
enum Hex {
  private static let digits = Array("0123456789abcdef".utf8)

  static func encode<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> String {
    var text: [UInt8] = []
    text.reserveCapacity(bytes.underestimatedCount * 2)
    for byte in bytes {
      text.append(Self.digits[Int(byte >> 4)])
      text.append(Self.digits[Int(byte & 0x0f)])
    }
    return String(decoding: text, as: UTF8.self)
  }
}

/// Bytes from the system's secure generator, eight per draw: `UInt8.random` makes a system call
/// for every byte.
enum SecureRandom {
  static func bytes(_ count: Int) -> [UInt8] {
    var generator = SystemRandomNumberGenerator()
    var bytes: [UInt8] = []
    bytes.reserveCapacity(count + 7)
    while bytes.count < count {
      withUnsafeBytes(of: generator.next() as UInt64) { bytes.append(contentsOf: $0) }
    }
    return Array(bytes.prefix(count))
  }
}
