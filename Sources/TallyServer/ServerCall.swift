import Logging
import NIOCore
import SwiftProtobuf
import TallyCore
import TallyWire

/// Request payloads of a client-streaming call, buffered with high/low watermarks so that a slow
/// handler pauses reading from the socket instead of growing memory.
typealias InboundPayloads = NIOThrowingAsyncSequenceProducer<
  ByteBuffer, any Error, NIOAsyncSequenceProducerBackPressureStrategies.HighLowWatermark, InboundDemand
>

/// One running call, owned by its connection's event loop.
final class ServerCall {
  let streamID: UInt32
  let method: RoutedMethod
  let context: RequestContext
  var task: Task<Void, Never>?
  var deadlineTimer: Scheduled<Void>?
  var inbound: InboundPayloads.Source?
  var messagesReceived = 0
  /// This call's part of the connection's held request bytes (`ServerLimits.maxHeldRequestBytes`).
  var heldRequestBytes = 0
  /// What its decoded metadata costs, not yet counted in `heldRequestBytes` (until the request is whole).
  var metadataBytes = 0
  /// Where the call's STATUS is counted, and since when it runs.
  let metrics: MethodMetrics
  let openedAt: NIODeadline

  init(streamID: UInt32, method: RoutedMethod, context: RequestContext, metrics: MethodMetrics, openedAt: NIODeadline) {
    self.streamID = streamID
    self.method = method
    self.context = context
    self.metrics = metrics
    self.openedAt = openedAt
  }

  /// Stops everything the call runs: its task, its timer, its request stream.
  func stop(_ error: any Error) {
    self.deadlineTimer?.cancel()
    self.task?.cancel()
    self.inbound?.finish(error)
    self.inbound = nil
  }

  /// The handler has returned: nothing left to cancel but the timer and the request stream.
  func finished() {
    self.deadlineTimer?.cancel()
    self.inbound?.finish()
    self.inbound = nil
  }
}

/// Tells the connection when a client-streaming handler wants more request messages.
struct InboundDemand: NIOAsyncSequenceProducerDelegate {
  let streamID: UInt32
  let eventLoop: any EventLoop
  let connection: NIOLoopBound<ServerConnectionHandler>

  func produceMore() {
    self.eventLoop.execute { self.connection.value.inboundWantsMore(self.streamID) }
  }

  func didTerminate() {
    self.eventLoop.execute { self.connection.value.inboundWantsMore(self.streamID) }
  }

  /// The handler is done with a request message of `bytes`: they no longer count as held.
  func handlerReleased(_ bytes: Int) {
    if self.eventLoop.inEventLoop {
      self.connection.value.requestBytesReleased(bytes, streamID: self.streamID)
    } else {
      self.eventLoop.execute { self.connection.value.requestBytesReleased(bytes, streamID: self.streamID) }
    }
  }
}

/// The raw request messages of a client-streaming call.
struct InboundPayloadIterator: RawMessageIterator {
  var base: InboundPayloads.AsyncIterator
  let demand: InboundDemand
  /// The key's re-check: a stream that outlives its key's revocation stops at its next message.
  let revalidate: @Sendable () async throws -> Void
  /// The size of the message last returned: the handler holds it (or what it decoded from it)
  /// until it asks for the next one.
  var lastMessageBytes = 0

  mutating func next() async throws -> ByteBuffer? {
    if self.lastMessageBytes > 0 {
      self.demand.handlerReleased(self.lastMessageBytes)
      self.lastMessageBytes = 0
    }
    let message = try await self.base.next()
    self.lastMessageBytes = message?.readableBytes ?? 0
    if message != nil { try await self.revalidate() }
    return message
  }
}

/// Sends the responses of a server-streaming call through the connection, waiting while it is full.
struct ServerStreamSink: ResponseSink {
  let streamID: UInt32
  let channel: any Channel
  let connection: NIOLoopBound<ServerConnectionHandler>
  let maxFramePayload: Int
  /// The key's re-check: a stream that outlives its key's revocation stops at its next message.
  let revalidate: @Sendable () async throws -> Void

  func send(_ message: any Message) async throws {
    try Task.checkCancellation()
    try await self.revalidate()
    let bytes: [UInt8] = try message.serializedBytes()
    guard bytes.count <= self.maxFramePayload else {
      throw RPCError.responseTooLarge(bytes.count, limit: self.maxFramePayload)
    }
    let eventLoop = self.channel.eventLoop
    // Written in order, and before the call's STATUS: directly when the handler runs on the loop.
    if eventLoop.inEventLoop {
      self.connection.value.writeStreamMessage(self.streamID, bytes)
    } else {
      eventLoop.execute { self.connection.value.writeStreamMessage(self.streamID, bytes) }
    }
    if !self.channel.isWritable {
      try await eventLoop.flatSubmit { self.connection.value.writableFuture(on: eventLoop) }.get()
    }
  }
}

extension RPCError {
  static func responseTooLarge(_ size: Int, limit: Int) -> RPCError {
    RPCError(
      code: .resourceExhausted,
      message: "the response message of \(size) bytes is above max_frame_payload (\(limit) bytes)"
    )
  }
}

/// A method the server serves, and the series its calls are counted in.
struct ServedMethod: Sendable {
  let routed: RoutedMethod
  let metrics: MethodMetrics
}
