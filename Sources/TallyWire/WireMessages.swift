public import NIOCore
public import SwiftProtobuf
public import TallyProto

/// The protocol version this code speaks, carried in HELLO and WELCOME.
public let tallyProtocolVersion: UInt32 = 1

extension Message {
  /// Decodes a message from a frame payload without copying it into an array first.
  public init(decoding payload: ByteBuffer) throws {
    self = try payload.withUnsafeReadableBytes { bytes in
      try Self(serializedBytes: bytes.bytes)
    }
  }

  /// The message's bytes, ready to become a frame payload.
  public func encodedBytes() throws -> [UInt8] {
    try self.serializedBytes()
  }
}

extension RPCError {
  /// The STATUS payload for this error, bounded whatever built it: at most
  /// `maxFieldViolations` violations, and each text cut at a few kilobytes, so that a STATUS
  /// always fits a frame the client reads.
  public var statusMessage: Tally_V1_Status {
    var status = Tally_V1_Status()
    status.code = Tally_V1_StatusCode(rawValue: self.code.rawValue) ?? .unknown
    status.message = Self.cut(self.message, bytes: 8_192)
    status.fieldViolations = self.fieldViolations.prefix(Self.maxFieldViolations).map {
      var violation = Tally_V1_FieldViolation()
      violation.field = Self.cut($0.field, bytes: 512)
      violation.description_p = Self.cut($0.description, bytes: 1_024)
      return violation
    }
    if let retryAfter = self.retryAfter {
      status.retryAfterMs = UInt32(clamping: max(retryAfter.wholeMilliseconds, 0))
    }
    return status
  }

  /// `text` whole when it has at most `bytes` UTF-8 bytes, else its longest prefix of whole
  /// characters that fits with an ellipsis.
  static func cut(_ text: String, bytes: Int) -> String {
    guard text.utf8.count > bytes else { return text }
    var kept = Substring()
    var used = 3  // "…"
    for character in text {
      used += character.utf8.count
      if used > bytes { break }
      kept.append(character)
    }
    return kept + "…"
  }

  /// The error a STATUS frame describes (`code` may be `.ok`).
  public init(status: Tally_V1_Status) {
    self.init(
      code: Code(rawValue: status.code.rawValue),
      message: status.message,
      fieldViolations: status.fieldViolations.map {
        FieldViolation(field: $0.field, description: $0.description_p)
      },
      retryAfter: status.retryAfterMs > 0 ? .milliseconds(Int64(status.retryAfterMs)) : nil
    )
  }
}

extension ConnectionError {
  /// The GOAWAY payload for this error.
  public func goAwayMessage(lastStreamID: UInt32) -> Tally_V1_GoAway {
    var goAway = Tally_V1_GoAway()
    goAway.lastStreamID = lastStreamID
    goAway.code = Tally_V1_GoAwayCode(rawValue: self.code.rawValue) ?? .protocolError
    goAway.message = self.message
    return goAway
  }

  /// The error a received GOAWAY describes.
  public init(goAway: Tally_V1_GoAway) {
    self.init(Code(rawValue: goAway.code.rawValue), goAway.message)
  }
}

extension Google_Protobuf_Timestamp {
  /// From microseconds since 1970 (UTC), rounding toward the past for times before 1970.
  public init(microseconds micros: Int64) {
    let seconds = micros >= 0 ? micros / 1_000_000 : (micros - 999_999) / 1_000_000
    self.init(seconds: seconds, nanos: Int32(micros - seconds * 1_000_000) * 1000)
  }
}
