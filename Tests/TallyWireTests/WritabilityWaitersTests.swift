import NIOCore
import NIOEmbedded
import Synchronization
import TallyWire
import Testing

/// Writers waiting for a full channel: woken when it drains, failed when it closes.
@Suite struct WritabilityWaitersTests {
  struct Closed: Error {}

  @Test func waitsEndWhenTheChannelDrainsOrCloses() throws {
    let channel = EmbeddedChannel()
    var waiters = WritabilityWaiters()
    channel.isWritable = false
    let drained = waiters.whenWritable(channel)
    channel.isWritable = true
    waiters.writabilityChanged(channel)
    try drained.wait()

    channel.isWritable = false
    let pending = waiters.whenWritable(channel)
    waiters.failAll(Closed())
    #expect(throws: Closed.self) { try pending.wait() }
    // A closed channel stays as unwritable as it was: a wait begun after the close fails too.
    let lateResult = Mutex<Result<Void, any Error>?>(nil)
    waiters.whenWritable(channel).whenComplete { result in lateResult.withLock { $0 = result } }
    let ended = try #require(lateResult.withLock { $0 }, "a wait begun after the close never ends")
    #expect(throws: Closed.self) { try ended.get() }
    _ = try? channel.finish()
  }
}
