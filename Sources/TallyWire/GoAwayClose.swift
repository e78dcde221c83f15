public import NIOCore

extension ChannelHandlerContext {
  /// How long a GOAWAY that closes the connection may wait to be written.
  static let goAwayWriteTimeout = TimeAmount.seconds(5)

  /// Closes once `write` (a GOAWAY) is on the wire, so that the peer reads it before the close,
  /// or after `goAwayWriteTimeout` if the peer reads nothing and the write never gets there.
  /// The returned timer is for the caller to cancel when the channel goes inactive.
  public func close(after write: EventLoopFuture<Void>) -> Scheduled<Void> {
    write.assumeIsolated().whenComplete { _ in self.close(promise: nil) }
    return self.eventLoop.assumeIsolated().scheduleTask(in: Self.goAwayWriteTimeout) {
      self.close(promise: nil)
    }
  }
}
