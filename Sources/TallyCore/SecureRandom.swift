import Glibc
import TallyStore

/// Bytes from the system's secure generator, up to 256 in one `getentropy` call: `UInt8.random`
/// makes a system call per byte, `UInt64.random` one per eight, and Foundation's `UUID()` opens
/// and reads /dev/urandom each time (three per SubmitResponse answer).
enum SecureRandom {
  static func bytes(_ count: Int) -> [UInt8] {
    [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
      var filled = 0
      while filled < count {
        let chunk = min(count - filled, 256)
        // It fails only without the system call (Linux before 3.17) or on a bad pointer.
        precondition(getentropy(buffer.baseAddress! + filled, chunk) == 0, "getentropy failed: errno \(errno)")
        filled += chunk
      }
      initialized = count
    }
  }

  /// A random (version 4) UUID in lower case, as PostgreSQL prints them.
  static func uuidString() -> String {
    var bytes = Self.bytes(16)
    bytes[6] = (bytes[6] & 0x0f) | 0x40
    bytes[8] = (bytes[8] & 0x3f) | 0x80
    let hex = Array(Hex.encode(bytes).utf8)
    var text: [UInt8] = []
    text.reserveCapacity(36)
    for (index, digit) in hex.enumerated() {
      if index == 8 || index == 12 || index == 16 || index == 20 { text.append(UInt8(ascii: "-")) }
      text.append(digit)
    }
    return String(decoding: text, as: UTF8.self)
  }
}
