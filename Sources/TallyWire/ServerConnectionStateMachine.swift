public import NIOCore
public import TallyProto

/// The server's side of one connection, as PROTOCOL.md describes it, with no sockets in it:
/// each event returns the one action the connection handler must take.
public struct ServerConnectionStateMachine: Sendable {
  public enum Action: Equatable, Sendable {
    case none
    /// Check the key of this HELLO, then report back with `authenticationSucceeded()` or
    /// `authenticationFailed(_:)`.
    case authenticate(Tally_V1_Hello)
    /// A frame that arrived while HELLO is being checked: hold it and feed it in again afterwards.
    case bufferUntilAuthenticated(Frame)
    case sendWelcome
    /// Start the call; its STATUS must be followed by `streamClosed(_:)`.
    case openStream(UInt32, Tally_V1_CallHeader)
    /// Answer this stream with a STATUS at once; no call of `method` starts.
    case rejectStream(UInt32, method: String, code: RPCError.Code, message: String)
    case deliverMessage(UInt32, ByteBuffer, endStream: Bool)
    /// Stop the call's work and answer STATUS CANCELLED.
    case cancelStream(UInt32)
    case sendPingAck(ByteBuffer)
    /// Send GOAWAY; close now when `close`, else once the open streams have finished.
    case sendGoAway(ConnectionError, lastStreamID: UInt32, close: Bool)
    case close
  }

  private struct Streams: Sendable {
    /// The highest stream id opened so far: ids at or below it were opened once, except `skipped`.
    var lastStreamID: UInt32 = 0
    /// Open streams, and whether the client has ended its half (END_STREAM).
    var open: [UInt32: Bool] = [:]
    /// Ids a CALL jumped over, oldest first: a MESSAGE or CANCEL there is PROTOCOL_ERROR, where
    /// one for an ended stream is ignored. Bounded, so a client cannot grow it without end.
    var skipped: [ClosedRange<UInt32>] = []
    static let maxSkippedRanges = 1_024

    mutating func opened(_ streamID: UInt32) {
      if streamID > self.lastStreamID + 1 {
        if self.skipped.count == Self.maxSkippedRanges { self.skipped.removeFirst() }
        self.skipped.append(self.lastStreamID + 1...streamID - 1)
      }
      self.lastStreamID = streamID
    }

    /// Whether a CALL ever used this id (as far as `skipped` remembers). The gaps are in id
    /// order, so a binary search finds the one that could hold it.
    func wasOpened(_ streamID: UInt32) -> Bool {
      guard streamID <= self.lastStreamID else { return false }
      var (low, high) = (0, self.skipped.count)
      while low < high {
        let middle = (low + high) / 2
        if self.skipped[middle].upperBound < streamID { low = middle + 1 } else { high = middle }
      }
      return low == self.skipped.count || !self.skipped[low].contains(streamID)
    }
  }

  private enum State: Sendable {
    case awaitingHello
    case authenticating
    case active(Streams)
    /// GOAWAY was sent or received: open streams finish, no new one starts.
    case draining(Streams)
    case closed
    /// Held only while a method changes the streams taken out of `.active` or `.draining`: with
    /// the state no longer holding them, the dictionary changes in place instead of being copied.
    case modifying
  }

  private var state: State = .awaitingHello
  public let maxConcurrentStreams: Int

  public init(maxConcurrentStreams: Int = 100) {
    self.maxConcurrentStreams = maxConcurrentStreams
  }

  /// How many calls are running.
  public var openStreamCount: Int {
    switch self.state {
    case .active(let streams), .draining(let streams): streams.open.count
    default: 0
    }
  }

  /// The highest stream id the client has opened.
  public var lastStreamID: UInt32 {
    switch self.state {
    case .active(let streams), .draining(let streams): streams.lastStreamID
    default: 0
    }
  }

  /// Whether a GOAWAY was sent or received: the connection closes once its last call ends.
  public var isDraining: Bool {
    if case .draining = self.state { return true }
    return false
  }

  /// Why a call after a GOAWAY was refused.
  static let goingAway = "the connection is going away; retry on a new connection"

  public var isClosed: Bool {
    if case .closed = self.state { return true }
    return false
  }

  // MARK: Events

  public mutating func receivedFrame(_ frame: Frame) -> Action {
    if let error = frame.shapeError {
      guard !self.isClosed else { return .none }
      return self.fail(error, lastStreamID: self.lastStreamID)
    }
    switch self.state {
    case .closed:
      return .none
    case .awaitingHello:
      guard frame.type == .hello else {
        return self.fail(ConnectionError(.protocolError, "the first frame must be HELLO, got \(frame.type)"))
      }
      if let offset = StreamSafeText.firstLongCombiningRun(in: frame.payload) {
        return self.fail(ConnectionError(.protocolError, StreamSafeText.refusal("HELLO", at: offset)))
      }
      guard let hello = try? Tally_V1_Hello(decoding: frame.payload) else {
        return self.fail(ConnectionError(.protocolError, "HELLO payload is not a valid tally.v1.Hello"))
      }
      guard hello.protocolVersion == tallyProtocolVersion else {
        return self.fail(
          ConnectionError(
            .protocolError,
            "protocol_version \(hello.protocolVersion) is not supported; this server speaks \(tallyProtocolVersion)"
          )
        )
      }
      self.state = .authenticating
      return .authenticate(hello)
    case .authenticating:
      if frame.type == .hello { return self.fail(ConnectionError(.protocolError, "a second HELLO")) }
      return .bufferUntilAuthenticated(frame)
    case .active(var streams):
      self.state = .modifying
      let action = self.handle(frame, streams: &streams, draining: false)
      if case .modifying = self.state { self.state = .active(streams) }
      return action
    case .draining(var streams):
      self.state = .modifying
      let action = self.handle(frame, streams: &streams, draining: true)
      if case .modifying = self.state { self.state = .draining(streams) }
      return action
    case .modifying:
      preconditionFailure("receivedFrame while the state is being modified")
    }
  }

  public mutating func authenticationSucceeded() -> Action {
    guard case .authenticating = self.state else { return .none }
    self.state = .active(Streams())
    return .sendWelcome
  }

  /// The key was refused (`.unauthenticated`), or could not be checked (`.overloaded`: the
  /// client may retry on a new connection, where a refused key may not).
  public mutating func authenticationFailed(_ message: String, code: ConnectionError.Code = .unauthenticated)
    -> Action
  {
    guard case .authenticating = self.state else { return .none }
    return self.fail(ConnectionError(code, message))
  }

  /// The call on `streamID` has sent its STATUS.
  public mutating func streamClosed(_ streamID: UInt32) -> Action {
    switch self.state {
    case .active(var streams):
      self.state = .modifying
      streams.open[streamID] = nil
      self.state = .active(streams)
      return .none
    case .draining(var streams):
      self.state = .modifying
      streams.open[streamID] = nil
      if streams.open.isEmpty {
        self.state = .closed
        return .close
      }
      self.state = .draining(streams)
      return .none
    default:
      return .none
    }
  }

  /// Graceful shutdown: GOAWAY SHUTTING_DOWN, then close once every open call has finished.
  public mutating func shutdown() -> Action {
    let error = ConnectionError(.shuttingDown, "the server is shutting down")
    switch self.state {
    case .awaitingHello, .authenticating:
      return self.fail(error)
    case .active(let streams):
      return self.drain(error, streams)
    case .draining, .closed, .modifying:
      return .none
    }
  }

  /// A call's re-check refused the connection's key (revoked, or its tenant suspended): GOAWAY
  /// UNAUTHENTICATED, as at HELLO, and no more calls (each later CALL is refused UNAVAILABLE, as
  /// after any GOAWAY); those running finish, each re-checking the key on its own, then the
  /// connection closes. Left open, it would take a token of the tenant's rate per call refused.
  public mutating func keyRefused(_ message: String) -> Action {
    switch self.state {
    case .active(let streams):
      return self.drain(ConnectionError(.unauthenticated, message), streams)
    case .awaitingHello, .authenticating, .draining, .closed, .modifying:
      return .none
    }
  }

  /// GOAWAY `error`, and no more calls: the connection closes once the open ones have finished,
  /// at once when none is open.
  private mutating func drain(_ error: ConnectionError, _ streams: Streams) -> Action {
    if streams.open.isEmpty {
      self.state = .closed
      return .sendGoAway(error, lastStreamID: streams.lastStreamID, close: true)
    }
    self.state = .draining(streams)
    return .sendGoAway(error, lastStreamID: streams.lastStreamID, close: false)
  }

  /// The handshake timer (before WELCOME) or the idle timer (no frame for a while) fired. A HELLO
  /// that came in time but whose key is still being checked is no timeout of the client's: the
  /// server could not answer in time, so it says OVERLOADED, which a client may retry.
  public mutating func idleTimeoutFired() -> Action {
    switch self.state {
    case .awaitingHello:
      return self.fail(ConnectionError(.idleTimeout, "no HELLO within the handshake timeout"))
    case .authenticating:
      return self.fail(ConnectionError(.overloaded, "the API key could not be checked within the handshake timeout"))
    case .active(let streams) where streams.open.isEmpty:
      return self.fail(ConnectionError(.idleTimeout, "the connection was idle"), lastStreamID: streams.lastStreamID)
    default:
      return .none
    }
  }

  /// The idle timeout passed while streams were open but ran nothing: each waits for the
  /// client's request message, which did not come. Idle as much as a connection without streams
  /// (a CALL and no MESSAGE held its header for ever); after a GOAWAY too, whoever sent it, since
  /// a draining connection closes only when its last stream ends, which such a stream never does.
  public mutating func idleTimeoutFiredAwaitingRequests() -> Action {
    switch self.state {
    case .active(let streams), .draining(let streams):
      return self.fail(
        ConnectionError(.idleTimeout, "no request message came on the open streams within the idle timeout"),
        lastStreamID: streams.lastStreamID)
    default:
      return .none
    }
  }

  /// The decoder refused the bytes (bad magic, frame too large, unknown type): GOAWAY and close.
  public mutating func decodingFailed(_ error: ConnectionError) -> Action {
    guard !self.isClosed else { return .none }
    return self.fail(error, lastStreamID: self.lastStreamID)
  }

  // MARK: Frames on an authenticated connection

  private mutating func handle(_ frame: Frame, streams: inout Streams, draining: Bool) -> Action {
    switch frame.type {
    case .hello, .welcome, .status:
      return self.fail(
        ConnectionError(.protocolError, "a client may not send \(frame.type) here"),
        lastStreamID: streams.lastStreamID
      )
    case .ping:
      return frame.flags.contains(.ack) ? .none : .sendPingAck(frame.payload)
    case .goAway:
      if streams.open.isEmpty {
        self.state = .closed
        return .close
      }
      self.state = .draining(streams)
      return .none
    case .call:
      guard frame.streamID > streams.lastStreamID else {
        return self.fail(
          ConnectionError(
            .protocolError,
            "CALL on stream \(frame.streamID), which is not above the last stream id \(streams.lastStreamID)"
          ),
          lastStreamID: streams.lastStreamID
        )
      }
      guard frame.payload.readableBytes <= Frame.maxCallHeaderPayload else {
        // The stream is refused; the connection, whose framing is intact, stays. RESOURCE_EXHAUSTED,
        // as gRPC answers metadata past its limit; but UNAVAILABLE after a GOAWAY, as every call
        // then, so that a client retries it on a new connection.
        streams.opened(frame.streamID)
        if draining { return .rejectStream(frame.streamID, method: "", code: .unavailable, message: Self.goingAway) }
        return .rejectStream(
          frame.streamID,
          method: "",
          code: .resourceExhausted,
          message: "the CALL payload (CallHeader) of \(frame.payload.readableBytes) bytes is above its maximum of "
            + "\(Frame.maxCallHeaderPayload) bytes; send less metadata"
        )
      }
      if let offset = StreamSafeText.firstLongCombiningRun(in: frame.payload) {
        // Refused before the method and metadata keys are hashed; the connection stays.
        streams.opened(frame.streamID)
        if draining { return .rejectStream(frame.streamID, method: "", code: .unavailable, message: Self.goingAway) }
        return .rejectStream(
          frame.streamID, method: "", code: .invalidArgument,
          message: StreamSafeText.refusal("the CALL payload (CallHeader)", at: offset))
      }
      guard let header = try? Tally_V1_CallHeader(decoding: frame.payload) else {
        return self.fail(
          ConnectionError(
            .protocolError, "CALL payload on stream \(frame.streamID) is not a valid tally.v1.CallHeader"),
          lastStreamID: streams.lastStreamID
        )
      }
      streams.opened(frame.streamID)
      if draining {
        return .rejectStream(frame.streamID, method: header.method, code: .unavailable, message: Self.goingAway)
      }
      guard streams.open.count < self.maxConcurrentStreams else {
        return .rejectStream(
          frame.streamID,
          method: header.method,
          code: .resourceExhausted,
          message: "more than max_concurrent_streams (\(self.maxConcurrentStreams)) calls on this connection"
        )
      }
      streams.open[frame.streamID] = false
      return .openStream(frame.streamID, header)
    case .message:
      guard streams.wasOpened(frame.streamID) else {
        return self.failNeverOpened(frame, lastStreamID: streams.lastStreamID)
      }
      guard let inboundClosed = streams.open[frame.streamID] else { return .none }
      guard !inboundClosed else {
        return self.fail(
          ConnectionError(.protocolError, "MESSAGE on stream \(frame.streamID) after its END_STREAM"),
          lastStreamID: streams.lastStreamID
        )
      }
      let endStream = frame.flags.contains(.endStream)
      if endStream { streams.open[frame.streamID] = true }
      return .deliverMessage(frame.streamID, frame.payload, endStream: endStream)
    case .cancel:
      guard streams.wasOpened(frame.streamID) else {
        return self.failNeverOpened(frame, lastStreamID: streams.lastStreamID)
      }
      guard streams.open[frame.streamID] != nil else { return .none }
      return .cancelStream(frame.streamID)
    }
  }

  private mutating func failNeverOpened(_ frame: Frame, lastStreamID: UInt32) -> Action {
    self.fail(
      ConnectionError(.protocolError, "\(frame.type) on stream \(frame.streamID), which was never opened"),
      lastStreamID: lastStreamID
    )
  }

  private mutating func fail(_ error: ConnectionError, lastStreamID: UInt32 = 0) -> Action {
    self.state = .closed
    return .sendGoAway(error, lastStreamID: lastStreamID, close: true)
  }
}
