public import NIOCore

/// Writes made in one event-loop tick share one flush (one TLS record, one `write`): the first
/// asks for a flush after the rest of the tick's work, the others ride along, up to
/// `writesPerFlush`. Owned by a handler on its event loop, the last in its pipeline, so flushing
/// the channel flushes its writes.
///
/// The cap keeps both ends busy. Holding every answer of a large read until the read is done
/// makes the peer wait for all of them, then answer all at once: the two sides take turns, and a
/// client with 64 calls in flight got half the calls per second that it gets with a flush every
/// 16 answers, when it can work on the first 16 while the rest are made (docs/BENCHMARKS.md).
public final class FlushCoalescer {
  public static let writesPerFlush = 16
  private var scheduled = false
  private var unflushed = 0

  public init() {}

  public func flushSoon(_ channel: any Channel) {
    self.unflushed += 1
    if self.unflushed >= Self.writesPerFlush {
      self.unflushed = 0
      channel.flush()
      return
    }
    guard !self.scheduled else { return }
    self.scheduled = true
    channel.eventLoop.assumeIsolated().execute {
      self.scheduled = false
      self.unflushed = 0
      channel.flush()
    }
  }
}
