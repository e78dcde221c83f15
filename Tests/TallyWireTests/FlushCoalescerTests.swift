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

  @Test func aLongTickFlushesEverySixteenWrites() throws {
    let counter = FlushCounter()
    let channel = EmbeddedChannel(handler: counter)
    let flushes = FlushCoalescer()
    let count = 2 * FlushCoalescer.writesPerFlush + 3
    var flushedAfter: [Int] = []
    for index in 1...count {
      channel.write(ByteBuffer(bytes: [UInt8(index)]), promise: nil)
      flushes.flushSoon(channel)
      if counter.flushes > flushedAfter.count { flushedAfter.append(index) }
    }
    // Within the tick: one flush per 16 writes, so the peer can start on those answers.
    #expect(flushedAfter == [FlushCoalescer.writesPerFlush, 2 * FlushCoalescer.writesPerFlush])
    channel.embeddedEventLoop.run()
    #expect(counter.flushes == 3)
    var written: [UInt8] = []
    while let buffer = try channel.readOutbound(as: ByteBuffer.self) { written += buffer.readableBytesView }
    #expect(written == (1...count).map { UInt8($0) })

    // The count starts again after the tick's flush.
    for byte: UInt8 in 1...15 {
      channel.write(ByteBuffer(bytes: [byte]), promise: nil)
      flushes.flushSoon(channel)
    }
    #expect(counter.flushes == 3)
  }
}
