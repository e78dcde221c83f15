import ArgumentParser
import TallyClient
import TallyProto
import TallyWire

/// `tally server-info`: what the server runs and which limits a client must respect.
struct ServerInfo: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Show the server's version, uptime and limits, and who the key is (SystemService/ServerInfo)."
  )

  @OptionGroup var connection: ConnectionOptions

  /// What `-o json` prints: plain numbers, unlike proto JSON's quoted 64-bit integers.
  struct Report: Encodable {
    struct Principal: Encodable {
      var keyID: String
      var tenantID: String
      var `operator`: Bool
      var scopes: [String]
    }

    struct Limits: Encodable {
      var maxFramePayload: UInt32
      var maxConcurrentStreams: UInt32
      var idleTimeoutMs: UInt32
      var handshakeTimeoutMs: UInt32
      var maxMessagesPerStream: UInt32
      var tenantCallsPerSecond: UInt32
      var tenantCallBurst: UInt32
      var maxConnectionsPerKey: UInt32
      var maxConnectionsPerTenant: UInt32
      var maxHandshakesPerAddress: UInt32
    }

    var endpoint: String
    var serverVersion: String
    var protocolVersion: UInt32
    var uptimeMs: UInt64
    var principal: Principal
    var limits: Limits
  }

  func run() async throws {
    let report = try await self.connection.withClient { session in
      let info = try await session.client.unary(
        SystemMethods.serverInfo,
        Tally_V1_ServerInfoRequest(),
        options: session.options
      )
      let principal = try await session.client.welcome().principal
      return Report(info, principal, endpoint: session.endpoint)
    }
    switch self.connection.output {
    case .json: try Output.printJSON(report)
    case .table: Output.printTable(report.rows)
    case .csv: Output.printTable(report.csvRows)
    }
  }
}

extension ServerInfo.Report {
  init(_ info: Tally_V1_ServerInfoResponse, _ principal: Tally_V1_Principal, endpoint: String) {
    self.endpoint = endpoint
    self.serverVersion = info.serverVersion
    self.protocolVersion = info.protocolVersion
    self.uptimeMs = info.uptimeMs
    self.principal = Principal(
      keyID: principal.keyID,
      tenantID: principal.tenantID,
      operator: principal.operator,
      scopes: principal.scopes
    )
    self.limits = Limits(
      maxFramePayload: info.limits.maxFramePayload,
      maxConcurrentStreams: info.limits.maxConcurrentStreams,
      idleTimeoutMs: info.limits.idleTimeoutMs,
      handshakeTimeoutMs: info.limits.handshakeTimeoutMs,
      maxMessagesPerStream: info.limits.maxMessagesPerStream,
      tenantCallsPerSecond: info.limits.tenantCallsPerSecond,
      tenantCallBurst: info.limits.tenantCallBurst,
      maxConnectionsPerKey: info.limits.maxConnectionsPerKey,
      maxConnectionsPerTenant: info.limits.maxConnectionsPerTenant,
      maxHandshakesPerAddress: info.limits.maxHandshakesPerAddress
    )
  }

  /// Label and value per line, for `-o table`.
  var rows: [[String]] {
    [
      ["endpoint", self.endpoint],
      ["server version", self.serverVersion],
      ["protocol version", "\(self.protocolVersion)"],
      ["uptime", Self.uptime(milliseconds: self.uptimeMs)],
      ["key", self.principal.keyID + (self.principal.operator ? " (operator)" : "")],
      ["tenant", self.principal.tenantID.isEmpty ? Output.missing : self.principal.tenantID],
      ["scopes", self.principal.scopes.joined(separator: ", ")],
      ["max frame payload", "\(self.limits.maxFramePayload) bytes"],
      ["max concurrent streams", "\(self.limits.maxConcurrentStreams)"],
      ["idle timeout", "\(self.limits.idleTimeoutMs) ms"],
      ["handshake timeout", "\(self.limits.handshakeTimeoutMs) ms"],
      ["max messages per stream", "\(self.limits.maxMessagesPerStream)"],
      [
        "calls per tenant",
        self.limits.tenantCallsPerSecond == 0
          ? "not limited"
          : "\(self.limits.tenantCallsPerSecond) per second, bursts of \(self.limits.tenantCallBurst)",
      ],
      [
        "connections per key",
        self.limits.maxConnectionsPerKey == 0 ? "not limited" : "\(self.limits.maxConnectionsPerKey)",
      ],
      [
        "connections per tenant",
        self.limits.maxConnectionsPerTenant == 0 ? "not limited" : "\(self.limits.maxConnectionsPerTenant)",
      ],
      [
        "handshakes per address",
        self.limits.maxHandshakesPerAddress == 0 ? "not limited" : "\(self.limits.maxHandshakesPerAddress)",
      ],
    ]
  }

  /// Field and plain value per line, for `-o csv`: the names and numbers of `-o json` (0: not limited).
  var csvRows: [[String]] {
    let limits = self.limits
    return [
      ["field", "value"], ["endpoint", self.endpoint], ["server_version", self.serverVersion],
      ["protocol_version", "\(self.protocolVersion)"], ["uptime_ms", "\(self.uptimeMs)"],
      ["key_id", self.principal.keyID], ["tenant_id", self.principal.tenantID],
      ["operator", "\(self.principal.operator)"], ["scopes", self.principal.scopes.joined(separator: " ")],
      ["max_frame_payload", "\(limits.maxFramePayload)"], ["max_concurrent_streams", "\(limits.maxConcurrentStreams)"],
      ["idle_timeout_ms", "\(limits.idleTimeoutMs)"], ["handshake_timeout_ms", "\(limits.handshakeTimeoutMs)"],
      ["max_messages_per_stream", "\(limits.maxMessagesPerStream)"],
      ["tenant_calls_per_second", "\(limits.tenantCallsPerSecond)"],
      ["tenant_call_burst", "\(limits.tenantCallBurst)"],
      ["max_connections_per_key", "\(limits.maxConnectionsPerKey)"],
      ["max_connections_per_tenant", "\(limits.maxConnectionsPerTenant)"],
      ["max_handshakes_per_address", "\(limits.maxHandshakesPerAddress)"],
    ]
  }

  /// `3d 4h 5m 6s`, leaving out the leading zero units.
  static func uptime(milliseconds: UInt64) -> String {
    let seconds = milliseconds / 1000
    let parts: [(UInt64, String)] = [
      (seconds / 86_400, "d"), (seconds / 3600 % 24, "h"), (seconds / 60 % 60, "m"), (seconds % 60, "s"),
    ]
    let shown = parts.drop { $0.0 == 0 && $0.1 != "s" }
    return shown.map { "\($0.0)\($0.1)" }.joined(separator: " ")
  }
}
