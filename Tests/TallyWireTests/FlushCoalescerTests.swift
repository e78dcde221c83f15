import NIOCore
import NIOEmbedded
import Testing

@testable import TallyWire

/// Writes asked to flush within one event-loop tick go out together, in one flush.
@Suite struct FlushCoalescerTests {
  /// Counts the flushes that reach the channel.
  final class FlushCounter: ChannelOutboundHandler {
    typealias OutboundIn = ByteBuffer
    var flushes = 0
    func flush(context: ChannelHandlerContext) {
      self.flushes += 1
      context.flush()
    }
  }

  @Test func writesOfOneTickShareOneFlushAfterIt() throws {
    let counter = FlushCounter()
    let channel = EmbeddedChannel(handler: counter)
    let flushes = FlushCoalescer()
    for byte: UInt8 in [1, 2, 3] {
      channel.write(ByteBuffer(bytes: [byte]), promise: nil)
      flushes.flushSoon(channel)
    }
    #expect(try channel.readOutbound(as: ByteBuffer.self) == nil, "flushed before the tick's work was done")
    channel.embeddedEventLoop.run()
    #expect(counter.flushes == 1)
    var written: [UInt8] = []
    while let buffer = try channel.readOutbound(as: ByteBuffer.self) { written += buffer.readableBytesView }
    #expect(written == [1, 2, 3])

    // The next tick's writes ask for a flush of their own.
    channel.write(ByteBuffer(bytes: [4]), promise: nil)
    flushes.flushSoon(channel)
    channel.embeddedEventLoop.run()
    #expect(counter.flushes == 2)
    #expect(try channel.readOutbound(as: ByteBuffer.self) == ByteBuffer(bytes: [4]))
  }
}
