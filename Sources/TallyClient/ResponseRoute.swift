import NIOCore
import TallyWire

/// A server-streaming call's responses as its caller reads them: at most
/// `ResponseBuffer.highWatermark` unread, after which the connection stops reading.
typealias ResponsePayloads = NIOThrowingAsyncSequenceProducer<
  ByteBuffer, any Error, NIOAsyncSequenceProducerBackPressureStrategies.HighLowWatermark, ResponseDemand
>

/// How many responses a server-streaming call holds that its caller has not read: as many as the
/// server holds of a client stream's requests (PROTOCOL.md, flow control). More would let a slow
/// reader of a large export hold it all in memory.
enum ResponseBuffer {
  static let highWatermark = 16
  /// Reading resumes once the caller has taken the buffer down to this.
  static let lowWatermark = 8

  static func make(demand: ResponseDemand) -> ResponsePayloads.NewSequence {
    ResponsePayloads.makeSequence(
      backPressureStrategy: .init(lowWatermark: Self.lowWatermark, highWatermark: Self.highWatermark),
      finishOnDeinit: true,
      delegate: demand
    )
  }
}

/// Tells a call's connection that its caller has read its buffer down (or stopped reading), so
/// the connection may read again.
final class ResponseDemand: NIOAsyncSequenceProducerDelegate {
  private let handler: NIOLoopBound<ClientConnectionHandler>
  private let handle: StreamHandle

  init(handler: NIOLoopBound<ClientConnectionHandler>, handle: StreamHandle) {
    self.handler = handler
    self.handle = handle
  }

  func produceMore() {
    let (handler, handle) = (self.handler, self.handle)
    handler.eventLoop.execute { handler.value.callerReadResponses(handle) }
  }

  func didTerminate() { self.produceMore() }
}

/// Where one call's response messages go. A server-streaming call's go to a stream its caller
/// iterates; a unary or client-streaming call's one response goes to a promise completed at
/// STATUS, which costs a fraction of a stream per call (no buffer, no generic storage).
struct ResponseRoute {
  private enum Destination {
    case stream(ResponsePayloads.Source)
    case single(EventLoopPromise<ByteBuffer?>)
  }

  private let destination: Destination
  /// A single-response call's first MESSAGE, held until its STATUS says whether it stands.
  private var first: ByteBuffer?
  /// A single-response call's MESSAGEs beyond the first: a server fault, not a response.
  private var extra = 0

  static func stream(_ source: ResponsePayloads.Source) -> ResponseRoute {
    ResponseRoute(destination: .stream(source))
  }

  static func single(_ promise: EventLoopPromise<ByteBuffer?>) -> ResponseRoute {
    ResponseRoute(destination: .single(promise))
  }

  private init(destination: Destination) {
    self.destination = destination
  }

  /// A MESSAGE arrived; a single-response call keeps the first and counts any more. False when
  /// a stream's caller has `ResponseBuffer.highWatermark` responses unread: read no more for now.
  mutating func received(_ payload: ByteBuffer) -> Bool {
    switch self.destination {
    case .stream(let source):
      return source.yield(payload) != .stopProducing
    case .single:
      if self.first == nil { self.first = payload } else { self.extra += 1 }
      return true
    }
  }

  /// STATUS OK: the stream ends, or the promise gets the response (nil if none came), unless
  /// the server sent a single-response call more than one.
  func finish() {
    switch self.destination {
    case .stream(let source): source.finish()
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
    case .stream(let source): source.finish(error)
    case .single(let promise): promise.fail(error)
    }
  }
}
