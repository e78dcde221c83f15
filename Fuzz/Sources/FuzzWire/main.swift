import NIOCore
import TallyWire

/// Feeds arbitrary bytes through the frame decoder and the server's state machine, as a
/// connection would: no input may crash, hang, or leave more streams open than allowed.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzWire(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
  let input = UnsafeRawBufferPointer(start: start, count: count)
  guard let options = input.first else { return 0 }
  let maxStreams = Int(options & 0x07) + 1
  var decoder = FrameDecoder(maxPayload: 1 << 16, expectsMagic: options & 0x80 != 0)
  var machine = ServerConnectionStateMachine(maxConcurrentStreams: maxStreams)
  var buffer = ByteBuffer(bytes: input.dropFirst())
  var buffered: [Frame] = []

  func apply(_ action: ServerConnectionStateMachine.Action) {
    switch action {
    case .authenticate:
      // Bit 6 of the options byte plays a wrong key.
      let next = options & 0x40 != 0 ? machine.authenticationFailed("bad key") : machine.authenticationSucceeded()
      apply(next)
      let replay = buffered
      buffered = []
      for frame in replay { apply(machine.receivedFrame(frame)) }
    case .bufferUntilAuthenticated(let frame):
      buffered.append(frame)
    case .deliverMessage(let id, _, endStream: true), .cancelStream(let id):
      apply(machine.streamClosed(id))
    case .none, .sendWelcome, .openStream, .rejectStream, .deliverMessage, .sendPingAck, .sendGoAway, .close:
      break
    }
    precondition(machine.openStreamCount <= maxStreams, "more streams open than allowed")
  }

  do {
    while let frame = try decoder.decode(buffer: &buffer) {
      apply(machine.receivedFrame(frame))
      if machine.isClosed { break }
    }
  } catch is ConnectionError {
    // A connection error is the expected answer to bad bytes.
  } catch {
    preconditionFailure("the decoder threw something other than a ConnectionError: \(error)")
  }
  _ = machine.shutdown()
  _ = machine.idleTimeoutFired()
  return 0
}
