public import NIOCore

/// Turns bytes into frames, refusing a length above the limit before buffering any payload.
///
/// On the server side it first checks the eight magic bytes. Every failure throws a
/// `ConnectionError` carrying the GOAWAY code the peer is to be sent.
public struct FrameDecoder: NIOSingleStepByteToMessageDecoder {
  public typealias InboundOut = Frame

  private var awaitingMagic: Bool
  /// The largest payload accepted; a larger length is FRAME_TOO_LARGE.
  public var maxPayload: Int
  /// A lower limit for the first frame alone (a server's HELLO: a key and a client name), so that
  /// a peer nobody has authenticated cannot make the server buffer megabytes; nil for none.
  private var maxFirstPayload: Int?

  public init(maxPayload: Int = Frame.defaultMaxPayload, maxFirstPayload: Int? = nil, expectsMagic: Bool) {
    self.maxPayload = maxPayload
    self.maxFirstPayload = maxFirstPayload
    self.awaitingMagic = expectsMagic
  }

  public mutating func decode(buffer: inout ByteBuffer) throws -> Frame? {
    if self.awaitingMagic {
      guard try Self.readMagic(from: &buffer) else { return nil }
      self.awaitingMagic = false
    }
    guard buffer.readableBytes >= Frame.headerLength else { return nil }
    let start = buffer.readerIndex
    // Safe: the header's ten bytes are readable.
    let length = Int(buffer.getInteger(at: start, as: UInt32.self)!)
    let rawType = buffer.getInteger(at: start + 4, as: UInt8.self)!
    let flags = FrameFlags(rawValue: buffer.getInteger(at: start + 5, as: UInt8.self)!)
    let streamID = buffer.getInteger(at: start + 6, as: UInt32.self)!

    if let first = self.maxFirstPayload, length > first {
      throw ConnectionError(.frameTooLarge, "the first frame's length \(length) is above its maximum of \(first) bytes")
    }
    if length > self.maxPayload {
      throw ConnectionError(
        .frameTooLarge,
        "frame length \(length) is above the maximum payload of \(self.maxPayload) bytes"
      )
    }
    guard let type = FrameType(rawValue: rawType) else {
      throw ConnectionError(.protocolError, "unknown frame type 0x\(String(rawType, radix: 16))")
    }
    guard buffer.readableBytes >= Frame.headerLength + length else { return nil }
    buffer.moveReaderIndex(forwardBy: Frame.headerLength)
    self.maxFirstPayload = nil
    let payload = buffer.readSlice(length: length)!
    return Frame(type: type, flags: flags, streamID: streamID, payload: payload)
  }

  public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> Frame? {
    try self.decode(buffer: &buffer)
  }

  /// Compares the bytes received so far with the magic, so garbage is refused at its first byte.
  private static func readMagic(from buffer: inout ByteBuffer) throws -> Bool {
    let magic = ConnectionMagic.bytes
    let available = min(buffer.readableBytes, magic.count)
    let received = buffer.readableBytesView.prefix(available)
    guard received.elementsEqual(magic.prefix(available)) else {
      throw ConnectionError(.protocolError, "the connection did not start with the magic TALLY/1\\n")
    }
    guard available == magic.count else { return false }
    buffer.moveReaderIndex(forwardBy: magic.count)
    return true
  }
}
