import Foundation
import SwiftProtobuf
import TallyClient
import TallyCore
import TallyProto
import TallyWire
import Testing

/// A key revoked while one of its streams runs: the stream stops at its next message.
@Suite struct KeyRevocationTests {
  @Test func aStreamStopsAtItsNextMessageOnceItsKeyIsRevoked() async throws {
    try await DataTestContext.with { context in
      let create = Fixture.apiKey("feed", tenant: context.tenantA, scopes: ["write"])
      let key = try await context.operatorClient.unary(AdminMethods.createApiKey, create).key
      let feed = try context.server.client(apiKey: key)
      @Sendable func batch(_ key: String) -> Tally_V1_RecordEventsRequest {
        var request = Tally_V1_RecordEventsRequest()
        request.events = [Fixture.event(key)]
        return request
      }
      @Sendable func storedKeys() async throws -> [String] {
        try await context.readerA.serverStreaming(EventMethods.listEvents, Tally_V1_ListEventsRequest()) { chunks in
          var keys: [String] = []
          for try await chunk in chunks { keys += chunk.events.map(\.key) }
          return keys
        }
      }
      let error = await expectStatus(.unauthenticated) {
        try await feed.clientStreaming(EventMethods.recordEvents) { writer in
          try await writer.send(batch("before"))
          try await writer.send(batch("after"))  // sends "before" (each waits for the next or the end)
          var stored: [String] = []
          for _ in 0..<200 where stored.isEmpty {  // the server reads the stream at its own pace
            stored = try await storedKeys()
            if stored.isEmpty { try await Task.sleep(for: .milliseconds(50)) }
          }
          #expect(stored == ["before"], "the first message was not stored")
          var revoke = Tally_V1_RevokeApiKeyRequest()
          revoke.keyID = try #require(APIKey(parsing: key)).keyID
          _ = try await context.operatorClient.unary(AdminMethods.revokeApiKey, revoke)
          try await writer.send(batch("late"))  // sends "after"
        }
      }
      #expect(error?.message.contains("revoked") == true, "\(String(describing: error))")
      #expect(try await storedKeys() == ["before"])
      await feed.close()
    }
  }
}
