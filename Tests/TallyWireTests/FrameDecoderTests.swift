import NIOCore
import NIOEmbedded
import NIOTestUtils
import Testing

@testable import TallyWire

@Suite struct FrameDecoderTests {
  private func buffer(_ frames: [Frame], magic: Bool = false) -> ByteBuffer {
    var buffer = ByteBuffer()
    if magic { buffer.writeBytes(ConnectionMagic.bytes) }
    for frame in frames { buffer.writeFrame(frame) }
    return buffer
  }

  private let sample: [Frame] = [
    Frame(type: .hello, payload: ByteBuffer(bytes: [1, 2, 3])),
    Frame(type: .call, streamID: 1, payload: ByteBuffer(string: "header")),
    Frame(type: .message, flags: .endStream, streamID: 1, payload: ByteBuffer()),
    Frame(type: .ping, payload: ByteBuffer(bytes: [0, 1, 2, 3, 4, 5, 6, 7])),
    Frame(type: .goAway, streamID: 0, payload: ByteBuffer(repeating: 7, count: 300)),
  ]

  @Test func headerIsTenBigEndianBytes() {
    var buffer = ByteBuffer()
    buffer.writeFrame(.message, flags: .endStream, streamID: 0x0102_0304, payload: [0xAA, 0xBB])
    #expect(Array(buffer.readableBytesView) == [0, 0, 0, 2, 0x03, 0x01, 1, 2, 3, 4, 0xAA, 0xBB])
  }

  @Test func decodesFramesDripFedAndMerged() throws {
    let pairs = self.sample.map { frame in (self.buffer([frame]), [frame]) }
    try ByteToMessageDecoderVerifier.verifyDecoder(
      inputOutputPairs: pairs,
      decoderFactory: { FrameDecoder(expectsMagic: false) }
    )
  }

  @Test func decodesMagicThenFramesDripFedOneByteAtATime() throws {
    let channel = EmbeddedChannel(handler: ByteToMessageHandler(FrameDecoder(expectsMagic: true)))
    for byte in self.buffer(self.sample, magic: true).readableBytesView {
      try channel.writeInbound(ByteBuffer(bytes: [byte]))
    }
    var decoded: [Frame] = []
    while let frame = try channel.readInbound(as: Frame.self) { decoded.append(frame) }
    #expect(decoded == self.sample)
    #expect(try channel.finish().isClean)
  }

  @Test func decodesMagicAndFramesArrivingInOneRead() throws {
    let channel = EmbeddedChannel(handler: ByteToMessageHandler(FrameDecoder(expectsMagic: true)))
    try channel.writeInbound(self.buffer(self.sample, magic: true))
    var decoded: [Frame] = []
    while let frame = try channel.readInbound(as: Frame.self) { decoded.append(frame) }
    #expect(decoded == self.sample)
    #expect(try channel.finish().isClean)
  }

  @Test func rejectsOversizedLengthBeforeThePayloadArrives() throws {
    var decoder = FrameDecoder(maxPayload: 1024, expectsMagic: false)
    var header = ByteBuffer()
    header.writeInteger(UInt32(1025))
    header.writeInteger(FrameType.message.rawValue)
    header.writeInteger(UInt8(0))
    header.writeInteger(UInt32(1))
    #expect(throws: ConnectionError(.frameTooLarge, "frame length 1025 is above the maximum payload of 1024 bytes")) {
      try decoder.decode(buffer: &header)
    }
  }

  /// The first frame (a server's HELLO) has its own lower limit, checked from its header; the
  /// frames after it have the connection's.
  @Test func theFirstFrameHasItsOwnLimit() throws {
    let big = Frame(type: .message, streamID: 1, payload: ByteBuffer(repeating: 1, count: 17))
    var refusing = FrameDecoder(maxPayload: 1024, maxFirstPayload: 16, expectsMagic: false)
    var header = self.buffer([big]).getSlice(at: 0, length: Frame.headerLength)!
    #expect(throws: ConnectionError(.frameTooLarge, "the first frame's length 17 is above its maximum of 16 bytes")) {
      try refusing.decode(buffer: &header)
    }
    var decoder = FrameDecoder(maxPayload: 1024, maxFirstPayload: 16, expectsMagic: false)
    let small = Frame(type: .hello, payload: ByteBuffer(repeating: 2, count: 16))
    var input = self.buffer([small, big])
    #expect(try decoder.decode(buffer: &input)?.payload.readableBytes == 16)
    #expect(try decoder.decode(buffer: &input)?.payload.readableBytes == 17)
  }

  @Test func acceptsPayloadOfExactlyTheLimit() throws {
    var decoder = FrameDecoder(maxPayload: 16, expectsMagic: false)
    var input = self.buffer([Frame(type: .message, streamID: 1, payload: ByteBuffer(repeating: 1, count: 16))])
    let frame = try decoder.decode(buffer: &input)
    #expect(frame?.payload.readableBytes == 16)
  }

  @Test func rejectsUnknownFrameType() throws {
    var decoder = FrameDecoder(expectsMagic: false)
    var input = ByteBuffer(bytes: [0, 0, 0, 0, 0x08, 0, 0, 0, 0, 0])
    #expect(throws: ConnectionError.self) { try decoder.decode(buffer: &input) }
    do {
      _ = try decoder.decode(buffer: &input)
    } catch let error as ConnectionError {
      #expect(error.code == .protocolError)
      #expect(error.message.contains("0x8"))
    }
  }

  @Test(arguments: [
    Array("TALLY/2\n".utf8), Array("GET / HTTP/1.1\r\n".utf8), [0x16, 0x03, 0x01], [0x54, 0x41, 0x4C, 0x4C, 0x00],
  ])
  func rejectsWrongMagicAtTheFirstWrongByte(_ bytes: [UInt8]) throws {
    var decoder = FrameDecoder(expectsMagic: true)
    var input = ByteBuffer(bytes: bytes)
    #expect(throws: ConnectionError.self) { try decoder.decode(buffer: &input) }
  }

  @Test func waitsForTheRestOfAPartialMagic() throws {
    var decoder = FrameDecoder(expectsMagic: true)
    var input = ByteBuffer(bytes: Array("TAL".utf8))
    #expect(try decoder.decode(buffer: &input) == nil)
    #expect(input.readableBytes == 3)
  }

  @Test func embeddedChannelSurfacesTheConnectionError() throws {
    let channel = EmbeddedChannel(handler: ByteToMessageHandler(FrameDecoder(maxPayload: 8, expectsMagic: false)))
    var input = ByteBuffer()
    input.writeFrame(.message, streamID: 1, payload: [UInt8](repeating: 0, count: 9))
    #expect(throws: ConnectionError.self) { try channel.writeInbound(input) }
    _ = try? channel.finish()
  }
}
