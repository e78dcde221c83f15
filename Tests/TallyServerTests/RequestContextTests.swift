import Logging
import Testing

@testable import TallyCore

/// The call's logger is built from the connection's when something logs, with the call's metadata.
@Suite struct RequestContextTests {
  @Test func callLoggerAddsRequestIDAndMethodToTheConnectionsMetadata() {
    var connectionLogger = Logger(label: "test")
    connectionLogger[metadataKey: "peer"] = "[IPv4]127.0.0.1/127.0.0.1:4242"
    let context = RequestContext(
      principal: Principal(keyID: "k1", tenantID: "t1", scopes: [.read]),
      tenantID: "t1",
      method: "tally.v1.SystemService/Ping",
      requestID: "req-7",
      connectionLogger: connectionLogger
    )
    #expect(context.logger[metadataKey: "request_id"] == "req-7")
    #expect(context.logger[metadataKey: "method"] == "tally.v1.SystemService/Ping")
    #expect(context.logger[metadataKey: "peer"] == "[IPv4]127.0.0.1/127.0.0.1:4242")
    #expect(context.connectionLogger[metadataKey: "request_id"] == nil)
  }

  /// A client's name and request id go into log lines: a line break there forged a line of its own.
  @Test func clientTextIsLoggedWithoutLineBreaksOrEscapes() {
    #expect(LogText.printable("tally-cli/0.1") == "tally-cli/0.1")
    #expect(
      LogText.printable("cli\n2026-12-07 error: forged\u{1b}[2J") == "cli\\u{A}2026-12-07 error: forged\\u{1B}[2J")
    #expect(LogText.printable("a\u{2028}b\u{202E}c é") == "a\\u{2028}b\\u{202E}c é")
    #expect(LogText.printable(String(repeating: "é", count: 300)).unicodeScalars.count == 128)
  }
}
