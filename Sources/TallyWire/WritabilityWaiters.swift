public import NIOCore

/// Writers waiting for a full channel to drain; owned by a handler on its event loop.
public struct WritabilityWaiters {
  private var waiters: [EventLoopPromise<Void>] = []
  /// Set by `failAll` when the channel closed: NIO leaves a closed channel's writability as it
  /// was, so a wait that starts after the close would otherwise never end.
  private var closedBecause: (any Error)?

  public init() {}

  /// Succeeds at once when `channel` is writable, else when it becomes writable; fails once the
  /// channel has closed.
  public mutating func whenWritable(_ channel: any Channel) -> EventLoopFuture<Void> {
    if let error = self.closedBecause { return channel.eventLoop.makeFailedFuture(error) }
    if channel.isWritable { return channel.eventLoop.makeSucceededVoidFuture() }
    let promise = channel.eventLoop.makePromise(of: Void.self)
    self.waiters.append(promise)
    return promise.futureResult
  }

  public mutating func writabilityChanged(_ channel: any Channel) {
    guard channel.isWritable else { return }
    let waiters = self.waiters
    self.waiters = []
    for waiter in waiters { waiter.succeed() }
  }

  /// The channel closed: every wait fails with `error`, now and later.
  public mutating func failAll(_ error: any Error) {
    self.closedBecause = error
    let waiters = self.waiters
    self.waiters = []
    for waiter in waiters { waiter.fail(error) }
  }
}

extension Duration {
  /// Whole milliseconds (rounded down, saturating), the unit of every `*_ms` field on the wire.
  public var wholeMilliseconds: Int64 {
    let (seconds, attoseconds) = self.components
    let (milliseconds, overflow) = seconds.multipliedReportingOverflow(by: 1000)
    guard !overflow else { return seconds < 0 ? .min : .max }
    let (total, carried) = milliseconds.addingReportingOverflow(attoseconds / 1_000_000_000_000_000)
    return carried ? .max : total
  }
}
