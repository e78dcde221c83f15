import Glibc
import TallyClient
import TallyProto
import TallyWire
import Testing

/// A call's timeout while the client is still connecting, and connections refused outright: on
/// plain loopback sockets, with no server behind them.
@Suite struct ConnectAttemptsTests {
  /// A loopback port that listens with a full accept queue and never accepts: Linux drops the
  /// next SYN, so a connect to it hangs until the client gives up. Closed by `body`'s end.
  private func withUnansweredPort<T>(_ body: (Int) async throws -> T) async throws -> T {
    let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
      pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
        bind(listener, address, length) == 0 && listen(listener, 0) == 0
          && getsockname(listener, address, &length) == 0
      }
    }
    try #require(bound, "a loopback listener")
    // Fill the accept queue (one place at backlog 0, a spare one for the kernel's rounding).
    var fillers: [Int32] = []
    for _ in 0..<3 {
      let filler = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
      _ = withUnsafePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(filler, $0, length) }
      }
      fillers.append(filler)
    }
    defer { for fd in fillers + [listener] { close(fd) } }
    try await Task.sleep(for: .milliseconds(50))
    return try await body(Int(UInt16(bigEndian: address.sin_port)))
  }

  private func client(port: Int, backoff: Duration = .milliseconds(50)) throws -> TallyClient {
    try TallyClient(
      configuration: ClientConfiguration(
        host: "127.0.0.1", port: port, security: .plaintext, apiKey: "tly_unused", connectTimeout: .seconds(3),
        retryBackoff: backoff))
  }

  @Test func aCallsTimeoutCoversTheWaitToConnect() async throws {
    try await self.withUnansweredPort { port in
      let client = try self.client(port: port)
      let started = ContinuousClock.now
      let error = await #expect(throws: RPCError.self) {
        try await client.unary(
          SystemMethods.ping, Tally_V1_PingRequest(), options: CallOptions(timeout: .milliseconds(300)))
      }
      #expect(error?.code == .deadlineExceeded, "\(String(describing: error))")
      #expect(ContinuousClock.now - started < .seconds(2), "not the 3 s connect timeout")
      await client.close()
    }
  }

  /// Nothing listens: every attempt is refused before anything was sent, so each waits its
  /// back-off (100–200, then 200–400 ms) before the next, and the last refusal is the answer.
  @Test func aRefusedConnectIsTriedAgainAfterItsBackoff() async throws {
    let closed = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) { pointer in
      pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        bind(closed, $0, length) == 0 && getsockname(closed, $0, &length) == 0
      }
    }
    close(closed)  // a port nothing listens on now
    let client = try self.client(port: Int(UInt16(bigEndian: address.sin_port)), backoff: .milliseconds(200))
    let started = ContinuousClock.now
    let error = await #expect(throws: RPCError.self) {
      try await client.unary(SystemMethods.ping, Tally_V1_PingRequest())
    }
    #expect(error?.code == .unavailable && error?.message.contains("could not connect") == true)
    #expect(ContinuousClock.now - started >= .milliseconds(300), "three attempts, two back-offs")
    await client.close()
  }
}
