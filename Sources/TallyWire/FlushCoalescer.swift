public import NIOCore

/// Writes made in one event-loop tick share one flush (one TLS record, one `write`): the first
/// asks for a flush after the rest of the tick's work, the others ride along. Owned by a handler
/// on its event loop, the last in its pipeline, so flushing the channel flushes its writes.
public final class FlushCoalescer {
  private var scheduled = false

  public init() {}

  public func flushSoon(_ channel: any Channel) {
    guard !self.scheduled else { return }
    self.scheduled = true
    channel.eventLoop.assumeIsolated().execute {
      self.scheduled = false
      channel.flush()
    }
  }
}
