import Foundation
import NIOCore
import SwiftProtobuf
import TallyClient
import TallyCore
import TallyProto
import TallyWire
import Testing

/// Bytes a well-behaved client would never send, over real TLS: each ends as PROTOCOL.md says.
@Suite struct ProtocolErrorTests {
  @Test func wrongMagicGetsProtocolErrorAndClose() async throws {
    try await TestServer.with { server, _ in
      let connection = try await RawConnection(port: server.port)
      try await connection.send(Array("GET / HTTP/1.1\r\n\r\n".utf8))
      let goAway = await connection.nextGoAway()
      #expect(goAway?.code == .protocolError)
      #expect(await connection.waitForClose())
    }
  }

  @Test func garbageAfterTheMagicGetsProtocolError() async throws {
    try await TestServer.with { server, _ in
      let connection = try await RawConnection(port: server.port)
      try await connection.send(ConnectionMagic.bytes + [0, 0, 0, 0, 0xEE, 0, 0, 0, 0, 0])
      let goAway = await connection.nextGoAway()
      #expect(goAway?.code == .protocolError)
      #expect(goAway?.message.contains("unknown frame type") == true)
      #expect(await connection.waitForClose())
    }
  }

  @Test func frameBeforeHelloGetsProtocolError() async throws {
    try await TestServer.with { server, _ in
      let connection = try await RawConnection(port: server.port)
      try await connection.send(ConnectionMagic.bytes)
      try await connection.send(.call, streamID: 1, callHeader("tally.v1.SystemService/Ping"))
      #expect(await connection.nextGoAway()?.code == .protocolError)
      #expect(await connection.waitForClose())
    }
  }

  @Test func frameTooLargeIsRefusedFromItsHeader() async throws {
    try await TestServer.with(limits: ServerLimits(maxFramePayload: 1024)) { server, _ in
      let connection = try await RawConnection(port: server.port)
      try await connection.handshake()
      #expect(await connection.nextFrame()?.type == .welcome)
      // Only the header: the server must not wait for the 1 MiB it announces.
      var header = ByteBuffer()
      header.writeInteger(UInt32(1 << 20))
      header.writeInteger(FrameType.message.rawValue)
      header.writeInteger(UInt8(0))
      header.writeInteger(UInt32(1))
      try await connection.send(Array(header.readableBytesView))
      let goAway = await connection.nextGoAway()
      #expect(goAway?.code == .frameTooLarge)
      #expect(await connection.waitForClose())
    }
  }

  @Test func reusedStreamIDGetsProtocolErrorWithTheLastStreamID() async throws {
    try await TestServer.with { server, _ in
      let connection = try await RawConnection(port: server.port)
      try await connection.handshake()
      try await connection.send(.call, streamID: 5, callHeader("tally.v1.SystemService/Ping"))
      try await connection.send(.message, flags: .endStream, streamID: 5, Tally_V1_PingRequest())
      let status = await connection.nextStatus()
      #expect(status?.0 == 5)
      #expect(status?.1.code == .ok)
      try await connection.send(.call, streamID: 5, callHeader("tally.v1.SystemService/Ping"))
      let goAway = await connection.nextGoAway()
      #expect(goAway?.code == .protocolError)
      #expect(goAway?.lastStreamID == 5)
    }
  }

  @Test func wrongKeyGetsGoAwayUnauthenticated() async throws {
    try await TestServer.with { server, _ in
      let connection = try await RawConnection(port: server.port)
      try await connection.handshake(apiKey: "tly_operator_nope")
      let goAway = await connection.nextGoAway()
      #expect(goAway?.code == .unauthenticated)
      #expect(await connection.waitForClose())
    }
  }

  /// A key the server could not check (its database down) is not a bad key: OVERLOADED, which a
  /// client retries on a new connection, where UNAUTHENTICATED would tell it to give up.
  @Test func keyThatCouldNotBeCheckedGetsGoAwayOverloaded() async throws {
    struct UnavailableAuthenticator: Authenticator {
      func authenticate(apiKey: String) async throws -> Principal {
        throw RPCError(code: .unavailable, message: "the database is unavailable")
      }
    }
    try await TestServer.with(authenticator: UnavailableAuthenticator()) { server, _ in
      let connection = try await RawConnection(port: server.port)
      try await connection.handshake(apiKey: TestKeys.operatorKey)
      let goAway = await connection.nextGoAway()
      #expect(goAway?.code == .overloaded)
      #expect(goAway?.message.contains("the database is unavailable") == true)
      #expect(await connection.waitForClose())
    }
  }

  @Test func pingIsAnsweredWithTheSameBytes() async throws {
    try await TestServer.with { server, _ in
      let connection = try await RawConnection(port: server.port)
      try await connection.handshake()
      #expect(await connection.nextFrame()?.type == .welcome)
      let bytes: [UInt8] = [9, 8, 7, 6, 5, 4, 3, 2]
      var ping = ByteBuffer()
      ping.writeFrame(.ping, payload: bytes)
      try await connection.send(Array(ping.readableBytesView))
      let answer = await connection.nextFrame()
      #expect(answer?.type == .ping)
      #expect(answer?.flags == .ack)
      #expect(answer.map { Array($0.payload.readableBytesView) } == bytes)
    }
  }

  @Test func callBeyondMaxConcurrentStreamsIsResourceExhaustedAndTheConnectionStays() async throws {
    try await TestServer.with(limits: ServerLimits(maxConcurrentStreams: 2)) { server, _ in
      let connection = try await RawConnection(port: server.port)
      try await connection.handshake()
      #expect(await connection.nextFrame()?.type == .welcome)
      for id: UInt32 in 1...3 {
        try await connection.send(.call, streamID: id, callHeader("tally.test.Probe/Block"))
      }
      let refused = await connection.nextStatus()
      #expect(refused?.0 == 3)
      #expect(refused?.1.code == .resourceExhausted)
      // Stream 1 is cancelled; its slot takes stream 4.
      var cancel = ByteBuffer()
      cancel.writeFrame(.cancel, streamID: 1, payload: EmptyCollection())
      try await connection.send(Array(cancel.readableBytesView))
      let cancelled = await connection.nextStatus()
      #expect(cancelled?.0 == 1)
      #expect(cancelled?.1.code == .cancelled)
      try await connection.send(.call, streamID: 4, callHeader("tally.v1.SystemService/Ping"))
      try await connection.send(.message, flags: .endStream, streamID: 4, Tally_V1_PingRequest())
      let ok = await connection.nextStatus()
      #expect(ok?.0 == 4)
      #expect(ok?.1.code == .ok)
      // Stream 2 still waits for its request; closing the connection ends it.
      await connection.close()
    }
  }

  @Test func unaryCallWithTwoMessagesIsInvalidArgument() async throws {
    try await TestServer.with { server, _ in
      let connection = try await RawConnection(port: server.port)
      try await connection.handshake()
      try await connection.send(.call, streamID: 1, callHeader("tally.v1.SystemService/Ping"))
      try await connection.send(.message, streamID: 1, Tally_V1_PingRequest())
      let status = await connection.nextStatus()
      #expect(status?.1.code == .invalidArgument)
      // The second MESSAGE races the STATUS and is ignored.
      try await connection.send(.message, flags: .endStream, streamID: 1, Tally_V1_PingRequest())
      try await connection.send(.call, streamID: 2, callHeader("tally.v1.SystemService/Ping"))
      try await connection.send(.message, flags: .endStream, streamID: 2, Tally_V1_PingRequest())
      #expect(await connection.nextStatus()?.1.code == .ok)
    }
  }

  /// A CALL header past 16 KiB is refused unread, the connection kept; so is metadata of many
  /// tiny entries, within the 16 KiB but costing more than 32 KiB as a map. TallyClient refuses to
  /// send either, saying why.
  @Test(arguments: [
    (2_000, "key-", "value", "above its maximum of 16384 bytes", "above the 16384 a server takes; send less metadata"),
    (1_000, "", "", "(1000 entries) counts 50890 bytes", "above the 32768 a call may bring"),
  ])
  func anOversizedCallHeaderIsRefusedAndTheConnectionStays(
    entries: Int, keyPrefix: String, value: String, serverSays: String, clientSays: String
  ) async throws {
    try await TestServer.with { server, _ in
      let connection = try await RawConnection(port: server.port)
      try await connection.handshake()
      var header = callHeader("tally.v1.SystemService/Ping")
      header.metadata = Dictionary(uniqueKeysWithValues: (0..<entries).map { ("\(keyPrefix)\($0)", value) })
      try await connection.send(.call, streamID: 1, header)
      let refused = await connection.nextStatus()
      #expect(refused?.0 == 1)
      #expect(refused?.1.code == .resourceExhausted)
      #expect(refused?.1.message.contains(serverSays) == true, "\(String(describing: refused))")
      try await connection.send(.message, flags: .endStream, streamID: 1, Tally_V1_PingRequest())
      try await connection.send(.call, streamID: 2, callHeader("tally.v1.SystemService/Ping"))
      try await connection.send(.message, flags: .endStream, streamID: 2, Tally_V1_PingRequest())
      #expect(await connection.nextStatus()?.1.code == .ok)
      await connection.close()

      let client = try server.client()
      let error = await expectStatus(.resourceExhausted) {
        try await client.unary(
          SystemMethods.ping, Tally_V1_PingRequest(), options: CallOptions(metadata: header.metadata))
      }
      #expect(error?.message.contains(clientSays) == true, "\(String(describing: error))")
      _ = try await client.unary(SystemMethods.ping, Tally_V1_PingRequest())
      await client.close()
    }
  }

  /// Text with a long run of combining marks costs Swift time quadratic in the run to compare or
  /// hash (StreamSafeText): a HELLO and a CALL header holding one are refused before they are
  /// decoded, and the connection of the CALL stays (requests: WireFieldLimitsTests).
  @Test func textWithALongRunOfCombiningMarksIsRefusedBeforeItIsRead() async throws {
    let marks = String(repeating: "\u{0301}", count: 2_000) + String(repeating: "\u{0316}", count: 2_000)
    try await TestServer.with { server, _ in
      let hello = try await RawConnection(port: server.port)
      try await hello.handshake(apiKey: "tly_k" + marks + "_s")
      let goAway = await hello.nextGoAway()
      #expect(goAway?.code == .protocolError && goAway?.message.contains("combining marks in a row") == true)

      let connection = try await RawConnection(port: server.port)
      try await connection.handshake()
      var header = callHeader("tally.v1.SystemService/Ping")
      header.metadata = ["e" + marks: "value"]
      try await connection.send(.call, streamID: 1, header)
      let refused = await connection.nextStatus()
      #expect(refused?.0 == 1 && refused?.1.code == .invalidArgument)
      #expect(refused?.1.message.contains("more than 30 combining marks in a row") == true)
      try await connection.send(.call, streamID: 3, callHeader("tally.v1.SystemService/Ping"))
      var ping = Tally_V1_PingRequest()
      ping.payload = Data(("e" + marks).utf8)
      try await connection.send(.message, flags: .endStream, streamID: 3, ping)
      // Ping's payload is bytes, never read as text: echoed as it came.
      #expect(await connection.nextStatus()?.1.code == .ok)
      await connection.close()
    }
  }

  @Test func hugeTimeoutIsClampedNotACrash() async throws {
    try await TestServer.with { server, _ in
      let connection = try await RawConnection(port: server.port)
      try await connection.handshake()
      try await connection.send(.call, streamID: 1, callHeader("tally.v1.SystemService/Ping", timeoutMs: .max))
      try await connection.send(.message, flags: .endStream, streamID: 1, Tally_V1_PingRequest())
      #expect(await connection.nextStatus()?.1.code == .ok)
    }
  }

  @Test func handshakeTimeoutClosesASilentConnection() async throws {
    // Eight seconds, not less: the timeout covers TLS too, and a loaded machine once took longer
    // than 300 ms, and once than 2 s, to connect, so that the server had closed mid-handshake.
    try await TestServer.with(limits: ServerLimits(handshakeTimeout: .seconds(8))) { server, _ in
      let connection = try await RawConnection(port: server.port)
      try await connection.send(ConnectionMagic.bytes)
      let goAway = await connection.nextGoAway()
      #expect(goAway?.code == .idleTimeout)
      #expect(await connection.waitForClose())
    }
  }

  /// A CALL whose MESSAGE never comes runs nothing: its connection idles out like one without
  /// streams (it held the CALL's header for ever). A call that runs keeps it open.
  @Test func aCallAwaitingItsRequestDoesNotKeepTheConnectionOpen() async throws {
    // The calls come with the HELLO, so that they reach the server before its first idle check
    // (sent after WELCOME, they could come too late on a loaded machine, even 2 s later).
    try await TestServer.with(limits: ServerLimits(idleTimeout: .seconds(2))) { server, _ in
      let running = try await RawConnection(port: server.port)
      try await running.handshake(then: [
        (.call, [], 1, callHeader(blockMethod.fullName)), (.message, .endStream, 1, Tally_V1_PingRequest()),
      ])
      #expect(await running.nextFrame()?.type == .welcome)
      #expect(try await server.probe.waitFor { $0.started == 1 }, "the blocking call started")

      let waiting = try await RawConnection(port: server.port)
      try await waiting.handshake(then: [(.call, [], 1, callHeader("tally.v1.SystemService/Ping"))])
      #expect(await waiting.nextFrame()?.type == .welcome)
      let goAway = await waiting.nextGoAway()
      #expect(goAway?.code == .idleTimeout && goAway?.message.contains("no request message came") == true)
      #expect(await waiting.waitForClose())
      #expect(await running.nextFrame(timeout: .seconds(1)) == nil, "the running call's connection stays")
      await running.close()
    }
  }

  @Test func idleConnectionGetsGoAwayIdleTimeout() async throws {
    try await TestServer.with(limits: ServerLimits(idleTimeout: .milliseconds(300))) { server, _ in
      let connection = try await RawConnection(port: server.port)
      try await connection.handshake()
      #expect(await connection.nextFrame()?.type == .welcome)
      let goAway = await connection.nextGoAway()
      #expect(goAway?.code == .idleTimeout)
      #expect(await connection.waitForClose())
    }
  }
}
