import NIOCore
import SwiftProtobuf
import TallyProto
import Testing

@testable import TallyWire

@Suite struct ServerConnectionStateMachineTests {
  private func payload(_ message: some Message) -> ByteBuffer {
    ByteBuffer(bytes: try! message.encodedBytes())
  }

  private var hello: Frame {
    var hello = Tally_V1_Hello()
    hello.protocolVersion = 1
    hello.apiKey = "tly_k_s"
    return Frame(type: .hello, payload: self.payload(hello))
  }

  private func call(_ id: UInt32, method: String = "tally.v1.SystemService/Ping") -> Frame {
    var header = Tally_V1_CallHeader()
    header.method = method
    return Frame(type: .call, streamID: id, payload: self.payload(header))
  }

  private func message(_ id: UInt32, end: Bool = true) -> Frame {
    Frame(type: .message, flags: end ? .endStream : [], streamID: id, payload: ByteBuffer(bytes: [1]))
  }

  /// A machine that has authenticated a client.
  private func active(maxStreams: Int = 100) -> ServerConnectionStateMachine {
    var machine = ServerConnectionStateMachine(maxConcurrentStreams: maxStreams)
    guard case .authenticate = machine.receivedFrame(self.hello) else {
      Issue.record("HELLO did not ask for authentication")
      return machine
    }
    #expect(machine.authenticationSucceeded() == .sendWelcome)
    return machine
  }

  private func expectGoAway(
    _ action: ServerConnectionStateMachine.Action,
    _ code: ConnectionError.Code,
    sourceLocation: SourceLocation = #_sourceLocation
  ) {
    guard case .sendGoAway(let error, _, close: true) = action else {
      Issue.record("expected GOAWAY \(code), got \(action)", sourceLocation: sourceLocation)
      return
    }
    #expect(error.code == code, sourceLocation: sourceLocation)
  }

  @Test func helloThenCallsThenStatus() {
    var machine = self.active()
    guard case .openStream(1, let header) = machine.receivedFrame(self.call(1)) else {
      Issue.record("CALL did not open the stream")
      return
    }
    #expect(header.method == "tally.v1.SystemService/Ping")
    #expect(machine.receivedFrame(self.message(1)) == .deliverMessage(1, ByteBuffer(bytes: [1]), endStream: true))
    #expect(machine.openStreamCount == 1)
    #expect(machine.streamClosed(1) == .none)
    #expect(machine.openStreamCount == 0)
  }

  @Test func callsSentBeforeWelcomeAreBuffered() {
    var machine = ServerConnectionStateMachine()
    guard case .authenticate(let hello) = machine.receivedFrame(self.hello) else {
      Issue.record("no authentication")
      return
    }
    #expect(hello.apiKey == "tly_k_s")
    #expect(machine.receivedFrame(self.call(1)) == .bufferUntilAuthenticated(self.call(1)))
    #expect(machine.authenticationSucceeded() == .sendWelcome)
  }

  @Test func badKeyEndsWithUnauthenticated() {
    var machine = ServerConnectionStateMachine()
    _ = machine.receivedFrame(self.hello)
    self.expectGoAway(machine.authenticationFailed("unknown API key"), .unauthenticated)
    #expect(machine.isClosed)
    #expect(machine.receivedFrame(self.call(1)) == .none)
  }

  @Test(arguments: [FrameType.call, .message, .ping, .cancel, .welcome, .goAway])
  func frameBeforeHelloIsAProtocolError(_ type: FrameType) {
    var machine = ServerConnectionStateMachine()
    let streamID: UInt32 = type.isConnectionFrame ? 0 : 1
    let payload = type == .ping ? ByteBuffer(repeating: 0, count: 8) : ByteBuffer()
    self.expectGoAway(machine.receivedFrame(Frame(type: type, streamID: streamID, payload: payload)), .protocolError)
  }

  /// Text past the stream-safe 30 combining marks in a row: a HELLO ends the connection, a CALL
  /// is refused on its own stream (StreamSafeText).
  @Test func textThatIsNotStreamSafeIsRefusedBeforeDecoding() {
    var machine = ServerConnectionStateMachine(maxConcurrentStreams: 100)
    var hello = Tally_V1_Hello()
    hello.protocolVersion = 1
    hello.apiKey = "tly_k" + String(repeating: "\u{0301}", count: 40) + "_s"
    self.expectGoAway(machine.receivedFrame(Frame(type: .hello, payload: self.payload(hello))), .protocolError)

    machine = self.active()
    var header = Tally_V1_CallHeader()
    header.method = "tally.v1.SystemService/Ping"
    header.metadata = ["e" + String(repeating: "\u{0301}", count: 40): "v"]
    guard
      case .rejectStream(1, _, .invalidArgument, let message) =
        machine.receivedFrame(Frame(type: .call, streamID: 1, payload: self.payload(header)))
    else {
      Issue.record("the CALL was not refused on its stream")
      return
    }
    #expect(message.contains("more than 30 combining marks in a row"))
    guard case .openStream(3, _) = machine.receivedFrame(self.call(3)) else {
      Issue.record("the connection did not take the next CALL")
      return
    }
  }

  /// Streams open, none running: the handler asks, and the connection ends as an idle one.
  @Test func idleWithStreamsAwaitingTheirRequestsEndsTheConnection() {
    var machine = self.active()
    guard case .openStream(1, _) = machine.receivedFrame(self.call(1)) else {
      Issue.record("CALL did not open the stream")
      return
    }
    #expect(machine.idleTimeoutFired() == .none, "an open stream keeps the plain idle check away")
    self.expectGoAway(machine.idleTimeoutFiredAwaitingRequests(), .idleTimeout)
  }

  @Test func undecodableHelloIsAProtocolError() {
    var machine = ServerConnectionStateMachine()
    self.expectGoAway(
      machine.receivedFrame(Frame(type: .hello, payload: ByteBuffer(bytes: [0xFF, 0xFF]))), .protocolError)
  }

  @Test func wrongProtocolVersionIsAProtocolError() {
    var machine = ServerConnectionStateMachine()
    var hello = Tally_V1_Hello()
    hello.protocolVersion = 2
    self.expectGoAway(machine.receivedFrame(Frame(type: .hello, payload: self.payload(hello))), .protocolError)
  }

  @Test func undecodableCallIsAProtocolError() {
    var machine = self.active()
    self.expectGoAway(
      machine.receivedFrame(Frame(type: .call, streamID: 1, payload: ByteBuffer(bytes: [0x0A, 0x05]))),
      .protocolError
    )
  }

  @Test func reusedOrDecreasingStreamIDIsAProtocolError() {
    var reused = self.active()
    _ = reused.receivedFrame(self.call(3))
    self.expectGoAway(reused.receivedFrame(self.call(3)), .protocolError)

    var decreasing = self.active()
    _ = decreasing.receivedFrame(self.call(5))
    _ = decreasing.streamClosed(5)
    self.expectGoAway(decreasing.receivedFrame(self.call(4)), .protocolError)
  }

  @Test func frameOnAStreamNeverOpenedIsAProtocolError() {
    var message = self.active()
    self.expectGoAway(message.receivedFrame(self.message(9)), .protocolError)
    var cancel = self.active()
    self.expectGoAway(cancel.receivedFrame(Frame(type: .cancel, streamID: 9, payload: ByteBuffer())), .protocolError)
  }

  /// Ids may skip; the ones skipped were never opened, though they lie below the last one.
  @Test func frameOnAStreamIDACallSkippedIsAProtocolError() {
    var message = self.active()
    _ = message.receivedFrame(self.call(1))
    _ = message.receivedFrame(self.call(5))
    #expect(message.receivedFrame(self.message(1)) != .none, "stream 1 is open")
    self.expectGoAway(message.receivedFrame(self.message(3)), .protocolError)
    var cancel = self.active()
    _ = cancel.receivedFrame(self.call(4))
    _ = cancel.streamClosed(4)
    #expect(cancel.receivedFrame(Frame(type: .cancel, streamID: 4, payload: ByteBuffer())) == .none)
    self.expectGoAway(cancel.receivedFrame(Frame(type: .cancel, streamID: 2, payload: ByteBuffer())), .protocolError)
    // Several gaps: the ids between them were opened, the ids in them were not.
    for (id, opened) in [(6, true), (10, true), (5, false), (8, false)] as [(UInt32, Bool)] {
      var machine = self.active()
      for call in [1, 3, 6, 10] as [UInt32] { _ = machine.receivedFrame(self.call(call)) }
      if opened {
        #expect(machine.receivedFrame(self.message(id)) != .none, "stream \(id)")
      } else {
        self.expectGoAway(machine.receivedFrame(self.message(id)), .protocolError)
      }
    }
  }

  @Test func frameOnAnEndedStreamIsIgnored() {
    var machine = self.active()
    _ = machine.receivedFrame(self.call(1))
    _ = machine.streamClosed(1)
    #expect(machine.receivedFrame(self.message(1)) == .none)
    #expect(machine.receivedFrame(Frame(type: .cancel, streamID: 1, payload: ByteBuffer())) == .none)
  }

  @Test func messageAfterEndStreamIsAProtocolError() {
    var machine = self.active()
    _ = machine.receivedFrame(self.call(1))
    _ = machine.receivedFrame(self.message(1))
    self.expectGoAway(machine.receivedFrame(self.message(1)), .protocolError)
  }

  @Test func badFlagsAreAProtocolError() {
    var machine = self.active()
    var call = self.call(1)
    call.flags = .endStream
    self.expectGoAway(machine.receivedFrame(call), .protocolError)
    var other = self.active()
    self.expectGoAway(
      other.receivedFrame(Frame(type: .message, flags: FrameFlags(rawValue: 0x02), streamID: 1, payload: ByteBuffer())),
      .protocolError
    )
  }

  @Test func streamFrameOnStreamZeroAndConnectionFrameOnAStreamAreProtocolErrors() {
    var machine = self.active()
    self.expectGoAway(machine.receivedFrame(self.call(0)), .protocolError)
    var other = self.active()
    self.expectGoAway(
      other.receivedFrame(Frame(type: .ping, streamID: 1, payload: ByteBuffer(repeating: 0, count: 8))),
      .protocolError
    )
  }

  @Test func clientMayNotSendServerFrames() {
    for type in [FrameType.welcome, .hello] {
      var machine = self.active()
      self.expectGoAway(machine.receivedFrame(Frame(type: type, payload: ByteBuffer())), .protocolError)
    }
    var machine = self.active()
    _ = machine.receivedFrame(self.call(1))
    self.expectGoAway(machine.receivedFrame(Frame(type: .status, streamID: 1, payload: ByteBuffer())), .protocolError)
  }

  /// CANCEL is empty (PROTOCOL.md's frame table), even for a stream that is open.
  @Test func aCancelCarryingBytesIsAProtocolError() {
    var machine = self.active()
    _ = machine.receivedFrame(self.call(1))
    self.expectGoAway(
      machine.receivedFrame(Frame(type: .cancel, streamID: 1, payload: ByteBuffer(bytes: [0]))), .protocolError)
  }

  @Test func pingIsEchoedAndAcksAreIgnored() {
    var machine = self.active()
    let bytes = ByteBuffer(bytes: [1, 2, 3, 4, 5, 6, 7, 8])
    #expect(machine.receivedFrame(Frame(type: .ping, payload: bytes)) == .sendPingAck(bytes))
    #expect(machine.receivedFrame(Frame(type: .ping, flags: .ack, payload: bytes)) == .none)
    self.expectGoAway(machine.receivedFrame(Frame(type: .ping, payload: ByteBuffer(bytes: [1]))), .protocolError)
  }

  @Test func callBeyondMaxConcurrentStreamsIsRefusedButTheConnectionStays() {
    var machine = self.active(maxStreams: 2)
    _ = machine.receivedFrame(self.call(1))
    _ = machine.receivedFrame(self.call(2))
    let refusal = machine.receivedFrame(self.call(3))
    guard case .rejectStream(3, method: "tally.v1.SystemService/Ping", code: .resourceExhausted, _) = refusal else {
      Issue.record("third call was not refused")
      return
    }
    #expect(machine.receivedFrame(self.message(3)) == .none)
    _ = machine.streamClosed(1)
    guard case .openStream(4, _) = machine.receivedFrame(self.call(4)) else {
      Issue.record("a slot freed up but the call was refused")
      return
    }
  }

  /// A CALL header past its maximum is refused without being decoded (two million empty metadata
  /// entries fit in 4 MiB); the connection stays.
  @Test func anOversizedCallHeaderIsRefusedAndTheConnectionStays() {
    var machine = self.active()
    var header = Tally_V1_CallHeader()
    header.method = "tally.v1.SystemService/Ping"
    header.metadata = Dictionary(uniqueKeysWithValues: (0..<2_000).map { ("key-\($0)", "value") })
    let bytes = self.payload(header)
    #expect(bytes.readableBytes > Frame.maxCallHeaderPayload)
    let refusal = machine.receivedFrame(Frame(type: .call, streamID: 1, payload: bytes))
    guard case .rejectStream(1, method: "", code: .resourceExhausted, let message) = refusal else {
      Issue.record("an oversized CALL header was not refused: \(refusal)")
      return
    }
    #expect(message.contains("of \(bytes.readableBytes) bytes is above its maximum of 16384 bytes"))
    #expect(machine.receivedFrame(self.message(1)) == .none, "the refused stream's MESSAGE is not an error")
    header.metadata = Dictionary(uniqueKeysWithValues: (0..<100).map { ("key-\($0)", "value") })
    guard
      case .openStream(2, let opened) = machine.receivedFrame(
        Frame(type: .call, streamID: 2, payload: self.payload(header)))
    else {
      Issue.record("a CALL header under the maximum was refused")
      return
    }
    #expect(opened.metadata.count == 100)
  }

  @Test func cancelOfAnOpenStreamAsksToCancel() {
    var machine = self.active()
    _ = machine.receivedFrame(self.call(1))
    #expect(machine.receivedFrame(Frame(type: .cancel, streamID: 1, payload: ByteBuffer())) == .cancelStream(1))
  }

  @Test func shutdownDrainsOpenStreamsThenCloses() {
    var machine = self.active()
    _ = machine.receivedFrame(self.call(1))
    _ = machine.receivedFrame(self.call(2))
    guard case .sendGoAway(let error, lastStreamID: 2, close: false) = machine.shutdown() else {
      Issue.record("shutdown did not send GOAWAY with last stream 2")
      return
    }
    #expect(error.code == .shuttingDown)
    let refusal = machine.receivedFrame(self.call(3))
    guard case .rejectStream(3, method: "tally.v1.SystemService/Ping", code: .unavailable, _) = refusal else {
      Issue.record("a new call was accepted while draining")
      return
    }
    // A CALL past the header's maximum is refused as every call then, not as too large: a client
    // retries UNAVAILABLE on a new connection.
    var header = Tally_V1_CallHeader()
    header.metadata = Dictionary(uniqueKeysWithValues: (0..<2_000).map { ("key-\($0)", "value") })
    let oversized = machine.receivedFrame(Frame(type: .call, streamID: 5, payload: self.payload(header)))
    guard case .rejectStream(5, method: "", code: .unavailable, _) = oversized else {
      Issue.record("an oversized CALL while draining was not refused as UNAVAILABLE: \(oversized)")
      return
    }
    #expect(machine.receivedFrame(self.message(1)) == .deliverMessage(1, ByteBuffer(bytes: [1]), endStream: true))
    #expect(machine.streamClosed(1) == .none)
    #expect(machine.streamClosed(2) == .close)
  }

  /// A key refused by a call's re-check: GOAWAY UNAUTHENTICATED, the running calls finish, new
  /// ones are refused unread, and the connection closes after the last.
  @Test func aRefusedKeyDrainsThenCloses() {
    var machine = self.active()
    _ = machine.receivedFrame(self.call(1))
    _ = machine.receivedFrame(self.call(2))
    #expect(machine.streamClosed(1) == .none)
    guard case .sendGoAway(let error, lastStreamID: 2, close: false) = machine.keyRefused("revoked") else {
      Issue.record("a refused key did not send GOAWAY with last stream 2")
      return
    }
    #expect(error.code == .unauthenticated && error.message == "revoked")
    guard case .rejectStream(3, method: _, code: .unavailable, _) = machine.receivedFrame(self.call(3)) else {
      Issue.record("a new call was accepted after the key was refused")
      return
    }
    #expect(machine.keyRefused("again") == .none)
    #expect(machine.streamClosed(2) == .close)
    var idle = self.active()
    guard case .sendGoAway(_, lastStreamID: 0, close: true) = idle.keyRefused("revoked") else {
      Issue.record("a refused key with nothing running did not close at once")
      return
    }
  }

  @Test func shutdownWithNothingOpenClosesAtOnce() {
    var machine = self.active()
    guard case .sendGoAway(_, lastStreamID: 0, close: true) = machine.shutdown() else {
      Issue.record("expected an immediate close")
      return
    }
  }

  @Test func idleTimeout() {
    var waiting = ServerConnectionStateMachine()
    self.expectGoAway(waiting.idleTimeoutFired(), .idleTimeout)
    // HELLO came in time; the key check did not end in time: the server's fault, not the client's.
    var checking = ServerConnectionStateMachine()
    guard case .authenticate = checking.receivedFrame(self.hello) else {
      Issue.record("HELLO did not ask for authentication")
      return
    }
    self.expectGoAway(checking.idleTimeoutFired(), .overloaded)
    var busy = self.active()
    _ = busy.receivedFrame(self.call(1))
    #expect(busy.idleTimeoutFired() == .none)
    var idle = self.active()
    self.expectGoAway(idle.idleTimeoutFired(), .idleTimeout)
  }

  /// A draining connection closes when its last stream ends; a stream whose request message never
  /// comes would keep it (and the key's connection slot) for ever: the idle timeout ends it too.
  @Test func aDrainingConnectionWhoseStreamsAwaitTheirRequestsEndsWhenIdle() {
    var afterPeerGoAway = self.active()
    _ = afterPeerGoAway.receivedFrame(self.call(1))
    #expect(afterPeerGoAway.receivedFrame(Frame(type: .goAway, payload: ByteBuffer())) == .none)
    self.expectGoAway(afterPeerGoAway.idleTimeoutFiredAwaitingRequests(), .idleTimeout)
    var afterKeyRefused = self.active()
    _ = afterKeyRefused.receivedFrame(self.call(1))
    _ = afterKeyRefused.receivedFrame(self.call(2))
    #expect(afterKeyRefused.streamClosed(2) == .none)
    guard case .sendGoAway(_, lastStreamID: 2, close: false) = afterKeyRefused.keyRefused("revoked") else {
      Issue.record("a refused key with a stream open did not drain")
      return
    }
    guard case .sendGoAway(let error, lastStreamID: 2, close: true) = afterKeyRefused.idleTimeoutFiredAwaitingRequests()
    else {
      Issue.record("a draining connection whose stream awaits its request did not end when idle")
      return
    }
    #expect(error.code == .idleTimeout)
  }

  @Test func peerGoAwayDrainsThenCloses() {
    var machine = self.active()
    _ = machine.receivedFrame(self.call(1))
    #expect(machine.receivedFrame(Frame(type: .goAway, payload: ByteBuffer())) == .none)
    #expect(machine.streamClosed(1) == .close)
  }
}
