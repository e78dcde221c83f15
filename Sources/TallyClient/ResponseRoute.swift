import NIOCore
import TallyWire

/// Where one call's response messages go. A server-streaming call's go to a stream its caller
/// iterates; a unary or client-streaming call's one response goes to a promise completed at
/// STATUS, which costs a fraction of a stream per call (no buffer, no generic storage).
struct ResponseRoute {
  private enum Destination {
    case stream(AsyncThrowingStream<ByteBuffer, any Error>.Continuation)
    case single(EventLoopPromise<ByteBuffer?>)
  }

  private let destination: Destination
  /// A single-response call's first MESSAGE, held until its STATUS says whether it stands.
  private var first: ByteBuffer?
  /// A single-response call's MESSAGEs beyond the first: a server fault, not a response.
  private var extra = 0

  static func stream(_ continuation: AsyncThrowingStream<ByteBuffer, any Error>.Continuation) -> ResponseRoute {
    ResponseRoute(destination: .stream(continuation))
  }

  static func single(_ promise: EventLoopPromise<ByteBuffer?>) -> ResponseRoute {
    ResponseRoute(destination: .single(promise))
  }

  private init(destination: Destination) {
    self.destination = destination
  }

  /// A MESSAGE arrived; a single-response call keeps the first and counts any more.
  mutating func received(_ payload: ByteBuffer) {
    switch self.destination {
    case .stream(let continuation): continuation.yield(payload)
    case .single:
      if self.first == nil { self.first = payload } else { self.extra += 1 }
    }
  }

  /// STATUS OK: the stream ends, or the promise gets the response (nil if none came), unless
  /// the server sent a single-response call more than one.
  func finish() {
    switch self.destination {
    case .stream(let continuation): continuation.finish()
    case .single(let promise) where self.extra > 0:
      promise.fail(
        RPCError(
          code: .internalError,
          message: "the server sent \(self.extra + 1) response messages to a call that has one"))
    case .single(let promise): promise.succeed(self.first)
    }
  }

  func finish(throwing error: any Error) {
    switch self.destination {
    case .stream(let continuation): continuation.finish(throwing: error)
    case .single(let promise): promise.fail(error)
    }
  }
}
