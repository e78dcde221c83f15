import NIOCore
import TallyClient
import TallyCore
import TallyWire
import Testing

@testable import TallyServer

/// `maxHandshakesPerAddress`: connections of one source not yet past HELLO, counted and refused.
@Suite struct HandshakeLimitTests {
  @Test func sourcesAreIPv4AddressesAndIPv6Networks() throws {
    func source(_ address: String) throws -> ConnectionSource? {
      ConnectionSource(try SocketAddress(ipAddress: address, port: 7443))
    }
    #expect(try source("10.1.2.3") == .v4(0x0a01_0203))
    #expect(try source("10.1.2.3")?.description == "10.1.2.3")
    #expect(try source("10.1.2.3") != source("10.1.2.4"))
    // An IPv4 client of a dual-stack listener is that IPv4 address, not the shared ::ffff:0:0 network.
    #expect(try source("::ffff:10.1.2.3") == source("10.1.2.3"))
    // One host usually has a whole /64: its addresses are one source.
    #expect(try source("2001:db8:1:2::1") == source("2001:db8:1:2:ffff:ffff:ffff:ffff"))
    #expect(try source("2001:db8:1:2::1") != source("2001:db8:1:3::1"))
    #expect(try source("2001:db8:1:2::1")?.description == "2001:db8:1:2::/64")
    #expect(ConnectionSource(try SocketAddress(unixDomainSocketPath: "/tmp/tally.sock")) == nil)
  }

  @Test func aSourceAtItsLimitIsClosedBeforeTLSUntilAHandshakeEnds() async throws {
    try await TestServer.with(limits: ServerLimits(maxHandshakesPerAddress: 2)) { server, _ in
      // Two connections that never send HELLO hold both places of 127.0.0.1. Each is counted once
      // its TLS is up (connections are set up on the server's several event loops, in no set order).
      let first = try await RawConnection(port: server.port)
      #expect(await first.waitForTLS())
      let second = try await RawConnection(port: server.port)
      #expect(await second.waitForTLS())
      let refused = try await RawConnection(port: server.port)
      #expect(await refused.waitForClose(timeout: .seconds(10)), "the third is closed at once")
      #expect(!(await first.waitForClose(timeout: .milliseconds(200))))
      #expect(!(await second.waitForClose(timeout: .milliseconds(200))))

      // A HELLO accepted frees its place: a new connection gets through and is welcomed.
      try await first.handshake()
      #expect(await first.nextFrame()?.type == .welcome)
      let third = try await RawConnection(port: server.port)
      try await third.handshake()
      #expect(await third.nextFrame()?.type == .welcome)

      // A connection closed before its HELLO frees its place too (the server sees the close a moment later).
      let waiting = try await RawConnection(port: server.port)
      #expect(await waiting.waitForTLS(), "second and waiting hold the two places")
      await second.close()
      var welcomed = false
      for _ in 0..<100 where !welcomed {
        let retry = try await RawConnection(port: server.port)
        try await retry.handshake()
        welcomed = await retry.nextFrame(timeout: .seconds(2))?.type == .welcome
        await retry.close()
        if !welcomed { try await Task.sleep(for: .milliseconds(20)) }
      }
      #expect(welcomed)
      for connection in [first, third, waiting, refused] { await connection.close() }
    }
  }

  @Test func aClientRefusedBeforeTLSIsToldWhy() async throws {
    try await TestServer.with(limits: ServerLimits(maxHandshakesPerAddress: 1)) { server, _ in
      let holder = try await RawConnection(port: server.port)
      #expect(await holder.waitForTLS())
      let client = try server.client()
      let error = await #expect(throws: RPCError.self) { try await client.welcome() }
      #expect(error?.code == .unavailable)
      #expect(error?.message.contains("max_handshakes_per_address") == true, "\(String(describing: error))")
      await client.close()
      await holder.close()
    }
  }

  @Test func welcomedConnectionsAreNotCounted() async throws {
    try await TestServer.with(limits: ServerLimits(maxHandshakesPerAddress: 1)) { server, _ in
      var clients: [RawConnection] = []
      for _ in 0..<5 {
        let connection = try await RawConnection(port: server.port)
        try await connection.handshake()
        #expect(await connection.nextFrame()?.type == .welcome)
        clients.append(connection)
      }
      for client in clients { await client.close() }
    }
  }
}
