import Foundation
import SwiftProtobuf
import TallyClient
import TallyCore
import TallyProto
import TallyWire
import Testing

/// `TallyClient.call(methodNamed:)`, the path of `tally call`, against a real TLS server.
@Suite struct DynamicCallTests {
  @Test func unaryPingRoundTripsBase64Payload() async throws {
    try await TestServer.with { server, _ in
      let client = try server.client()
      let payload = Data("hello, tally".utf8).base64EncodedString()
      let responses = try await client.call(
        methodNamed: SystemMethods.ping.fullName,
        jsonRequests: [#"{"payload": "\#(payload)", "delay_ms": 1}"#]
      )
      #expect(responses == [#"{"payload":"\#(payload)"}"#])
      await client.close()
    }
  }

  @Test func responsesUseTheProtoFieldNames() async throws {
    try await TestServer.with { server, _ in
      let client = try server.client()
      let responses = try await client.call(methodNamed: SystemMethods.serverInfo.fullName, jsonRequests: ["{}"])
      #expect(responses.count == 1)
      let json = try #require(responses.first)
      #expect(json.contains(#""server_version":"\#(tallyServerVersion)""#), "\(json)")
      #expect(json.contains(#""max_frame_payload":"#), "\(json)")
      #expect(!json.contains("serverVersion"), "\(json)")
      await client.close()
    }
  }

  @Test func serverStreamingCountReturnsOneLinePerMessage() async throws {
    try await TestServer.with { server, _ in
      let client = try server.client()
      let responses = try await client.call(methodNamed: SystemMethods.count.fullName, jsonRequests: [#"{"n": 5}"#])
      #expect(responses == (1...5).map { #"{"number":\#($0)}"# })
      let none = try await client.call(methodNamed: SystemMethods.count.fullName, jsonRequests: [#"{"n": 0}"#])
      #expect(none.isEmpty)
      await client.close()
    }
  }

  @Test func clientStreamingSumSendsEveryRequestInOrder() async throws {
    try await TestServer.with { server, _ in
      let client = try server.client()
      let requests = [#"{"numbers": [1, 2, 3]}"#, #"{"numbers": ["40", -5]}"#, "{}"]
      let responses = try await client.call(methodNamed: SystemMethods.sum.fullName, jsonRequests: requests)
      #expect(responses.count == 1)
      let sum = try Tally_V1_SumResponse(jsonString: try #require(responses.first))
      #expect(sum.sum == 41)
      #expect(sum.count == 5)
      #expect(sum.messages == 3)
      await client.close()
    }
  }

  @Test func unknownMethodIsUnimplemented() async throws {
    try await TestServer.with { server, _ in
      let client = try server.client()
      let error = await expectStatus(.unimplemented) {
        try await client.call(methodNamed: "tally.v1.Nope/Nothing", jsonRequests: ["{}"])
      }
      #expect(error?.message.contains("tally.v1.Nope/Nothing") == true)
      #expect(error?.message.contains("--list") == true)
      await client.close()
    }
  }

  @Test(arguments: [
    (#"{"payload": "#, "ends too early"),
    (#"{"nope": 1}"#, "nope"),
    (#"{"delay_ms": "soon"}"#, "tally.v1.PingRequest"),
  ])
  func malformedJSONIsInvalidArgument(_ json: String, _ complaint: String) async throws {
    try await TestServer.with { server, _ in
      let client = try server.client()
      let error = await expectStatus(.invalidArgument) {
        try await client.call(methodNamed: SystemMethods.ping.fullName, jsonRequests: [json])
      }
      #expect(error?.message.contains("tally.v1.PingRequest") == true, "\(String(describing: error))")
      #expect(error?.message.contains(complaint) == true, "\(String(describing: error))")
      await client.close()
    }
  }

  /// The same mistakes, found without a connection (`tally call` exits 64 on them).
  @Test func aDynamicCallIsCheckedWithoutAServer() throws {
    let ping = SystemMethods.ping.fullName
    try TallyClient.checkDynamicCall(methodNamed: ping, jsonRequests: [#"{"payload": "AAE="}"#])
    try TallyClient.checkDynamicCall(methodNamed: SystemMethods.sum.fullName, jsonRequests: ["{}", "{}", "{}"])
    for (name, requests, code) in [
      ("tally.v1.Nope/Nothing", ["{}"], RPCError.Code.unimplemented), (ping, [#"{"payload": "#], .invalidArgument),
      (ping, ["{}", "{}"], .invalidArgument), (SystemMethods.count.fullName, [], .invalidArgument),
    ] {
      let error = #expect(throws: RPCError.self) {
        try TallyClient.checkDynamicCall(methodNamed: name, jsonRequests: requests)
      }
      #expect(error?.code == code, "\(name) \(requests)")
    }
  }

  @Test func unaryWithTwoRequestsIsInvalidArgument() async throws {
    try await TestServer.with { server, _ in
      let client = try server.client()
      let error = await expectStatus(.invalidArgument) {
        try await client.call(methodNamed: SystemMethods.ping.fullName, jsonRequests: ["{}", "{}"])
      }
      #expect(error?.message.contains("exactly 1 request, got 2") == true, "\(String(describing: error))")
      // Server streaming takes one request too.
      _ = await expectStatus(.invalidArgument) {
        try await client.call(methodNamed: SystemMethods.count.fullName, jsonRequests: [])
      }
      await client.close()
    }
  }
}

/// Checks `MethodCatalog` against the `rpc` lines of proto/tally/v1, so that a new rpc without a
/// catalogue entry (and so without `tally call` support) fails CI.
@Suite struct MethodCatalogTests {
  /// One rpc as a .proto file declares it.
  struct ProtoMethod: Hashable, CustomStringConvertible {
    var fullName: String
    var kind: CallKind
    var requestType: String
    var responseType: String
    var description: String { "\(self.fullName) (\(self.kind), \(self.requestType) -> \(self.responseType))" }
  }

  static let protoDirectory = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("proto/tally/v1")

  /// Every `rpc` of every service in `protoDirectory`; an rpc line it cannot read is an issue.
  static func protoMethods() throws -> [ProtoMethod] {
    let files = try FileManager.default.contentsOfDirectory(atPath: Self.protoDirectory.path)
      .filter { $0.hasSuffix(".proto") }.sorted()
    let rpc = #/^rpc\s+(\w+)\s*\(\s*(stream\s+)?([\w.]+)\s*\)\s*returns\s*\(\s*(stream\s+)?([\w.]+)\s*\)/#
    var methods: [ProtoMethod] = []
    for file in files {
      let text = try String(contentsOf: Self.protoDirectory.appendingPathComponent(file), encoding: .utf8)
      var package = ""
      var service = ""
      for rawLine in text.split(separator: "\n") {
        let line = (rawLine.split(separator: "//", omittingEmptySubsequences: false).first ?? "")
          .trimmingCharacters(in: .whitespaces)
        let words = line.split { $0 == " " || $0 == ";" || $0 == "{" || $0 == "(" }
        switch words.first {
        case "package": package = String(words[1])
        case "service": service = String(words[1])
        case "rpc":
          guard let match = line.firstMatch(of: rpc) else {
            Issue.record("\(file): cannot read \"\(line)\"; write each rpc on one line")
            continue
          }
          let qualified = { (name: Substring) in name.contains(".") ? String(name) : "\(package).\(name)" }
          methods.append(
            ProtoMethod(
              fullName: "\(package).\(service)/\(match.1)",
              kind: match.2 != nil ? .clientStreaming : match.4 != nil ? .serverStreaming : .unary,
              requestType: qualified(match.3),
              responseType: qualified(match.5)
            )
          )
        default: continue
        }
      }
    }
    return methods
  }

  @Test func catalogueHasEveryRPCOfTheProtoFiles() throws {
    let declared = try Self.protoMethods()
    #expect(declared.count >= 4, "found only \(declared) in \(Self.protoDirectory.path)")
    let catalogued = MethodCatalog.all.map {
      ProtoMethod(
        fullName: $0.fullName,
        kind: $0.kind,
        requestType: $0.requestType.protoMessageName,
        responseType: $0.responseType.protoMessageName
      )
    }
    #expect(Set(catalogued.map(\.fullName)).count == catalogued.count, "MethodCatalog.all lists a method twice")
    let missing = Set(declared).subtracting(catalogued)
    let extra = Set(catalogued).subtracting(declared)
    #expect(missing.isEmpty, "in proto/ but not (or not so) in MethodCatalog.all: \(missing.map(\.description))")
    #expect(extra.isEmpty, "in MethodCatalog.all but not (or not so) in proto/: \(extra.map(\.description))")
  }
}
