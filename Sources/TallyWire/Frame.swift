public import NIOCore

/// The eight frame types of protocol version 1.
public enum FrameType: UInt8, Sendable, CaseIterable {
  case hello = 0x00
  case welcome = 0x01
  case call = 0x02
  case message = 0x03
  case status = 0x04
  case cancel = 0x05
  case ping = 0x06
  case goAway = 0x07

  /// Connection frames travel on stream 0; the others on the call's stream.
  public var isConnectionFrame: Bool {
    switch self {
    case .hello, .welcome, .ping, .goAway: true
    case .call, .message, .status, .cancel: false
    }
  }

  /// Bit 0 means END_STREAM on MESSAGE and ACK on PING; every other type sends flags 0.
  public var allowedFlags: FrameFlags {
    switch self {
    case .message: .endStream
    case .ping: .ack
    default: []
    }
  }
}

/// The frame header's flag byte.
public struct FrameFlags: OptionSet, Sendable, Hashable {
  public var rawValue: UInt8
  public init(rawValue: UInt8) { self.rawValue = rawValue }

  /// On MESSAGE: the sender's last message on this stream.
  public static let endStream = FrameFlags(rawValue: 0x01)
  /// On PING: this is the answer to a PING.
  public static let ack = FrameFlags(rawValue: 0x01)
}

/// One frame: a 10-byte header (length, type, flags, stream) and its payload.
public struct Frame: Sendable, Hashable {
  public static let headerLength = 10
  /// Protocol version 1's default payload limit (4 MiB), announced in WELCOME.
  public static let defaultMaxPayload = 4 * 1024 * 1024
  /// The largest HELLO a server reads: an API key and a client name need a few hundred bytes.
  public static let maxHelloPayload = 64 * 1024
  /// The largest CALL payload (CallHeader) a server decodes: 4 MiB of empty metadata entries
  /// would decode into two million map entries on the event loop.
  public static let maxCallHeaderPayload = 16 * 1024

  public var type: FrameType
  public var flags: FrameFlags
  public var streamID: UInt32
  public var payload: ByteBuffer

  public init(type: FrameType, flags: FrameFlags = [], streamID: UInt32 = 0, payload: ByteBuffer) {
    self.type = type
    self.flags = flags
    self.streamID = streamID
    self.payload = payload
  }
}

/// `TALLY/1\n`, the client's first eight bytes after the TLS handshake.
public enum ConnectionMagic {
  public static let bytes: [UInt8] = Array("TALLY/1\n".utf8)
}

extension ByteBuffer {
  /// Appends a frame header and `payload`: one contiguous buffer, so TLS sends it as one record.
  /// Inlinable so that callers get `writeBytes`' contiguous fast path, not the generic sequence.
  @inlinable
  public mutating func writeFrame(
    _ type: FrameType,
    flags: FrameFlags = [],
    streamID: UInt32 = 0,
    payload: some Collection<UInt8>
  ) {
    self.writeFrameHeader(type, flags: flags, streamID: streamID, length: payload.count)
    self.writeBytes(payload)
  }

  /// Appends a frame whose payload is a `ByteBuffer`'s readable bytes.
  public mutating func writeFrame(
    _ type: FrameType,
    flags: FrameFlags = [],
    streamID: UInt32 = 0,
    payload: ByteBuffer
  ) {
    self.writeFrameHeader(type, flags: flags, streamID: streamID, length: payload.readableBytes)
    self.writeImmutableBuffer(payload)
  }

  /// Appends a whole frame.
  public mutating func writeFrame(_ frame: Frame) {
    self.writeFrame(frame.type, flags: frame.flags, streamID: frame.streamID, payload: frame.payload)
  }

  @usableFromInline
  mutating func writeFrameHeader(
    _ type: FrameType,
    flags: FrameFlags,
    streamID: UInt32,
    length: Int
  ) {
    precondition(length <= UInt32.max, "frame payload too large for the length field")
    self.writeInteger(UInt32(length))
    self.writeInteger(type.rawValue)
    self.writeInteger(flags.rawValue)
    self.writeInteger(streamID)
  }
}

extension FrameType: CustomStringConvertible {
  /// The upper-case name PROTOCOL.md uses, e.g. `GOAWAY`.
  public var description: String {
    switch self {
    case .hello: "HELLO"
    case .welcome: "WELCOME"
    case .call: "CALL"
    case .message: "MESSAGE"
    case .status: "STATUS"
    case .cancel: "CANCEL"
    case .ping: "PING"
    case .goAway: "GOAWAY"
    }
  }
}

extension Frame {
  /// What breaks §3's rules for every frame in every state (stream 0 or not, flags, PING's
  /// length), checked by both sides; nil when the frame keeps them.
  public var shapeError: ConnectionError? {
    if self.type.isConnectionFrame, self.streamID != 0 {
      return ConnectionError(.protocolError, "\(self.type) must be on stream 0, got stream \(self.streamID)")
    }
    if !self.type.isConnectionFrame, self.streamID == 0 {
      return ConnectionError(.protocolError, "\(self.type) must be on a stream other than 0")
    }
    if !self.type.allowedFlags.isSuperset(of: self.flags) {
      return ConnectionError(
        .protocolError, "flags 0x\(String(self.flags.rawValue, radix: 16)) are not allowed on \(self.type)")
    }
    if self.type == .ping, self.payload.readableBytes != 8 {
      return ConnectionError(.protocolError, "PING carries 8 bytes, got \(self.payload.readableBytes)")
    }
    if self.type == .cancel, self.payload.readableBytes != 0 {
      return ConnectionError(.protocolError, "CANCEL carries nothing, got \(self.payload.readableBytes) bytes")
    }
    return nil
  }
}
