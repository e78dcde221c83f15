// A stand-in for NIOCore.ByteBuffer: the scan reads its bytes only (scripts/bench-wire-scan).
public struct ByteBuffer {
  var bytes: [UInt8]
  func withUnsafeReadableBytes<T>(_ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
    try self.bytes.withUnsafeBytes(body)
  }
}

func field(_ number: Int, _ payload: [UInt8]) -> [UInt8] {
  var out: [UInt8] = [UInt8(number << 3 | 2)]
  var length = payload.count
  while length >= 0x80 {
    out.append(UInt8(length & 0x7f) | 0x80)
    length >>= 7
  }
  out.append(UInt8(length))
  return out + payload
}

func payload(events: Int, properties: Int) -> [UInt8] {
  var bytes: [UInt8] = []
  for index in 0..<events {
    var event =
      field(1, Array("event-\(index)".utf8)) + field(2, Array("web_visit".utf8))
      + field(4, Array("acct-\(index % 97)".utf8))
    for key in ["utm_source", "utm_medium", "utm_campaign", "url", "referrer"].prefix(properties) {
      event += field(11, field(1, Array(key.utf8)) + field(2, Array("value-of-\(key)-\(index)".utf8)))
    }
    bytes += field(1, event)
  }
  return bytes
}
