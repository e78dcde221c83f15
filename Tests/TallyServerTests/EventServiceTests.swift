import Foundation
import Prometheus
import SwiftProtobuf
import TallyClient
import TallyProto
import TallyStore
import TallyTestSupport
import TallyWire
import Testing

@Suite struct EventServiceTests {
  private func record(_ client: TallyClient, _ batches: [[Tally_V1_Event]]) async throws
    -> Tally_V1_RecordEventsResponse
  {
    try await client.clientStreaming(EventMethods.recordEvents) { writer in
      for events in batches {
        var request = Tally_V1_RecordEventsRequest()
        request.events = events
        try await writer.send(request)
      }
    }
  }

  private func list(_ client: TallyClient, _ request: Tally_V1_ListEventsRequest = .init()) async throws
    -> [Tally_V1_Event]
  {
    try await client.serverStreaming(EventMethods.listEvents, request) { responses in
      var events: [Tally_V1_Event] = []
      for try await chunk in responses { events += chunk.events }
      return events
    }
  }

  /// A thousand events of 5 KB each are 5 MB, past a response frame's 4 MiB: ListEvents splits
  /// them over responses by size (one response of a thousand was RESOURCE_EXHAUSTED, for good).
  @Test func largeEventsAreListedInResponsesThatFitAFrame() async throws {
    try await DataTestContext.with { context in
      let value = String(repeating: "x", count: 1_000)
      let events = (0..<1_000).map { index in
        var event = Fixture.event(String(format: "big-%04d", index))
        event.properties = Dictionary(uniqueKeysWithValues: (0..<5).map { ("p\($0)", value) })
        return event
      }
      let stored = try await self.record(
        context.clientA,
        stride(from: 0, to: 1_000, by: 250).map {
          Array(events[$0..<$0 + 250])
        })
      #expect(stored.accepted == 1_000)
      let responses = try await context.readerA.serverStreaming(EventMethods.listEvents, .init()) { responses in
        var sizes: [Int] = []
        for try await response in responses { sizes.append(response.events.count) }
        return sizes
      }
      #expect(responses.count >= 2 && responses.reduce(0, +) == 1_000, "\(responses)")
      let listed = try await self.list(context.readerA)
      #expect(listed.map(\.key) == events.map(\.key) && listed.allSatisfy { $0.properties.count == 5 })
    }
  }

  /// Two batches that share keys claim them in key order, whatever order their clients sent: one
  /// waits for the other, where they used to wait for each other (a deadlock: one ABORTED).
  @Test func batchesSharingKeysClaimThemInKeyOrder() async throws {
    try await DataTestContext.with { context in
      // Another writer that holds k1, then claims k2, as a concurrent batch in key order does.
      let claim = """
        INSERT INTO event_keys (tenant_id, event_key, occurred_at)
        VALUES (current_setting('tally.tenant_id')::uuid, $1, '2026-03-01T10:00:00Z')
        """
      let writer = try await HeldTransaction(context.pool, tenant: context.tenantA) { connection in
        try connection.query("SELECT ensure_event_partitions('2026-03-01'::date, '2026-03-01'::date)")
        try connection.query(claim, ["k1"])
      } beforeCommit: { connection in
        try connection.query(claim, ["k2"])
      }
      let batch = Task { () async throws -> Tally_V1_RecordEventsResponse in
        try await self.record(context.clientA, [[Fixture.event("k2"), Fixture.event("k1")]])
      }
      #expect(try await waitUntilALockIsAwaited(in: context.appURL), "the batch never waited for the writer")
      try await writer.release()
      let response = try await batch.value
      #expect(response.accepted == 0 && response.duplicates == 2, "\(response)")
    }
  }

  @Test func mixedBatchesStoreTheValidEventsOnce() async throws {
    try await DataTestContext.with { context in
      var future = Fixture.event("future")
      future.occurredAt = Google_Protobuf_Timestamp(date: Date().addingTimeInterval(2 * 86_400))
      var long = Fixture.event("long", type: "content_view")
      long.durationSeconds = 90_000
      var tagged = Fixture.event("tagged", type: "content_view")
      tagged.durationSeconds = 120
      tagged.assetID = "whitepaper-7"
      tagged.properties = ["utm_source": "linkedin", "quote": "a\t\"b\"\\n"]
      let batch = [
        Fixture.event("e1"), Fixture.event("e2", type: "email_clickd"), Fixture.event("e1"), future,
        Fixture.event("", type: "web_visit"), long, tagged, Fixture.event("e3", at: "1999-12-31T23:59:59Z"),
      ]
      let response = try await self.record(context.clientA, [batch])
      #expect(response.accepted == 2 && response.duplicates == 1 && response.rejected == 5 && response.batches == 1)
      let reasons = Dictionary(uniqueKeysWithValues: response.rejections.map { ($0.index, $0.field) })
      #expect(reasons == [1: "type", 3: "occurred_at", 4: "key", 5: "duration_seconds", 7: "occurred_at"])
      #expect(response.rejections.first { $0.index == 1 }?.reason.contains("email_clickd") == true)

      // The client retries after a lost answer: nothing is stored twice.
      let retry = try await self.record(context.clientA, [batch, [Fixture.event("e4")]])
      #expect(retry.accepted == 1 && retry.duplicates == 3 && retry.batches == 2)
      let stored = try await self.list(context.readerA)
      #expect(stored.map(\.key).sorted() == ["e1", "e4", "tagged"])
      #expect(stored.first { $0.key == "tagged" } == tagged)

      // The operator's metrics count every event of both calls by what became of it.
      let metrics = String(decoding: context.ingestMetrics.emitToBuffer(), as: UTF8.self)
      let counts = metrics.split(separator: "\n").filter { $0.hasPrefix("tally_events_total{") }.sorted()
      #expect(
        counts == [
          #"tally_events_total{outcome="duplicate"} 4"#, #"tally_events_total{outcome="rejected"} 10"#,
          #"tally_events_total{outcome="stored"} 3"#,
        ])
    }
  }

  /// Keys are told apart by their bytes, as `event_keys` tells them: "é" and "e" + U+0301 are two
  /// events (Swift's `==` equates them, which once counted the second a duplicate and dropped it).
  @Test func keysThatLookAlikeAreTwoEvents() async throws {
    try await DataTestContext.with { context in
      let batch = [Fixture.event("caf\u{e9}-1"), Fixture.event("cafe\u{301}-1")]
      let response = try await self.record(context.clientA, [batch])
      #expect(response.accepted == 2 && response.duplicates == 0)
      #expect(try await self.record(context.clientA, [batch]).duplicates == 2)
      #expect(try await self.list(context.readerA).count == 2)
    }
  }

  /// Values within their range each may pass the range of their day's total: the message is
  /// refused whole, saying which totals and what to do (it named no field, and said only "at
  /// most", where a total of negative values fails as well), and stores nothing.
  @Test func aDaysTotalPastItsRangeRefusesTheMessageSayingWhy() async throws {
    try await DataTestContext.with { context in
      let events = (0..<9_300).map { index in
        var event = Fixture.event("big-\(index)", at: "2026-03-01T10:00:00Z")
        event.value = -1_000_000_000_000_000
        return event
      }
      let refused = await expectStatus(.outOfRange) { try await context.clientA.record(events) }
      #expect(refused?.message.contains("events[].value or duration_seconds: the total of one UTC day") == true)
      let stored = try await self.list(context.readerA)
      #expect(stored.isEmpty)
    }
  }

  @Test func concurrentStreamsWithTheSameKeysStoreEachEventOnce() async throws {
    try await DataTestContext.with { context in
      let events = (0..<2_000).map { Fixture.event("k\($0)", at: "2026-0\($0 % 9 + 1)-15T08:00:00Z") }
      let responses = try await withThrowingTaskGroup(of: Tally_V1_RecordEventsResponse.self) { group in
        for _ in 0..<4 {
          group.addTask { try await self.record(context.clientA, [Array(events[..<1000]), Array(events[1000...])]) }
        }
        return try await group.reduce(into: []) { $0.append($1) }
      }
      #expect(responses.map(\.accepted).reduce(0, +) == 2_000)
      #expect(responses.map(\.duplicates).reduce(0, +) == 6_000)
      var request = Tally_V1_ListEventsRequest()
      request.limit = 5_000
      let stored = try await self.list(context.readerA, request)
      #expect(stored.count == 2_000)
      let times = stored.map { $0.occurredAt.seconds }
      #expect(times == times.sorted())
    }
  }

  @Test func oldMonthsGetTheirPartitionOnDemand() async throws {
    try await DataTestContext.with { context in
      let response = try await self.record(
        context.clientA, [[Fixture.event("old", at: "2003-05-05T05:05:05Z"), Fixture.event("new")]])
      #expect(response.accepted == 2)
      let partition = try await context.pool.withConnection { connection in
        try connection.query("SELECT to_regclass('events_2003_05')::text AS name").rows[0].decode(String.self, "name")
      }
      #expect(partition == "events_2003_05")
    }
  }

  /// A month's partition is attached, which reads and writes of the events do not wait for: made
  /// by `CREATE TABLE ... PARTITION OF`, it waited for every open read of the events (here one
  /// held open) while every later read and write, of every tenant, queued behind it.
  @Test func anOldMonthIsFiledWhileTheEventsAreRead() async throws {
    try await DataTestContext.with { context in
      let reader = try PostgresConnection(conninfo: context.ownerURL)
      defer { reader.close() }
      try reader.execute("BEGIN")
      _ = try reader.query("SELECT count(*) AS n FROM events")
      // A minute: had the call waited for the reader, it would wait for ever; a loaded machine took
      // over 10 s to file the two months (three busy loops beside the suite).
      var options = CallOptions()
      options.timeout = .seconds(60)
      let started = ContinuousClock.now
      let response = try await context.clientA.clientStreaming(EventMethods.recordEvents, options: options) {
        writer in
        var request = Tally_V1_RecordEventsRequest()
        request.events = [
          Fixture.event("old", at: "2004-02-29T12:00:00Z"), Fixture.event("older", at: "2003-11-05T00:00:00Z"),
        ]
        try await writer.send(request)
      }
      let waited = ContinuousClock.now - started
      try reader.execute("COMMIT; SET TimeZone = 'UTC'")
      // Had it waited for the reader (which commits only after it), its deadline would have passed.
      #expect(response.accepted == 2, "\(response), \(waited)")
      let partition = try reader.query(
        """
        SELECT pg_get_expr(c.relpartbound, c.oid) AS bound, c.relforcerowsecurity::text AS fenced,
          (SELECT count(*) FROM pg_index i WHERE i.indrelid = c.oid) AS indexes,
          (SELECT count(*) FROM pg_index i WHERE i.indrelid = 'events'::regclass) AS parent_indexes
        FROM pg_class c WHERE c.relname = 'events_2004_02'
        """
      ).rows.first
      #expect(
        try partition?.require(String.self, "bound")
          == "FOR VALUES FROM ('2004-02-01 00:00:00+00') TO ('2004-03-01 00:00:00+00')")
      // Every index of the parent, and its own policy.
      #expect(try partition?.require(Int.self, "indexes") == partition?.require(Int.self, "parent_indexes"))
      #expect(try partition?.require(String.self, "fenced") == "true")
    }
  }

  @Test func listFiltersByTimeAccountAndType() async throws {
    try await DataTestContext.with { context in
      var events: [Tally_V1_Event] = []
      for day in 1...20 {
        var event = Fixture.event(
          "d\(day)", type: day % 2 == 0 ? "web_visit" : "ad_click",
          at: String(format: "2026-04-%02dT12:00:00Z", day))
        event.accountID = day <= 10 ? "acme" : "globex"
        events.append(event)
      }
      _ = try await self.record(context.clientA, [events])
      var request = Tally_V1_ListEventsRequest()
      request.from = Fixture.time("2026-04-05T00:00:00Z")
      request.to = Fixture.time("2026-04-15T00:00:00Z")
      request.accountID = "acme"
      request.types = ["web_visit"]
      #expect(try await self.list(context.readerA, request).map(\.key) == ["d6", "d8", "d10"])
      request = Tally_V1_ListEventsRequest()
      request.limit = 3
      #expect(try await self.list(context.readerA, request).map(\.key) == ["d1", "d2", "d3"])
      request.types = ["nonsense"]
      _ = await expectStatus(.invalidArgument) { try await self.list(context.readerA, request) }
    }
  }

  @Test func aBatchAboveTenThousandIsRefusedWithItsSize() async throws {
    try await DataTestContext.with { context in
      let events = (0..<10_001).map { Fixture.event("b\($0)") }
      let error = await expectStatus(.invalidArgument) { try await self.record(context.clientA, [events]) }
      #expect(error?.message.contains("10001") == true)
      #expect(try await self.list(context.readerA).isEmpty)
      let full = try await self.record(context.clientA, [Array(events.prefix(10_000))])
      #expect(full.accepted == 10_000)
    }
  }

  /// A stream that fails after some of its messages were stored says how many: the client then
  /// knows where to start again (each message is its own transaction).
  @Test func aFailedStreamSaysWhichOfItsMessagesWereStored() async throws {
    try await DataTestContext.with { context in
      let first = [Fixture.event("kept-1")]
      let second = [Fixture.event("kept-2")]
      let tooBig = (0..<10_001).map { Fixture.event("big-\($0)") }
      let error = await expectStatus(.invalidArgument) {
        try await self.record(context.clientA, [first, second, tooBig])
      }
      #expect(error?.message.contains("in message 2") == true)
      #expect(
        error?.message.contains("this stream's first 2 messages (0 to 1) were stored before it") == true,
        "\(String(describing: error))")
      let stored = try await self.list(context.readerA)
      #expect(stored.map(\.key).sorted() == ["kept-1", "kept-2"])
      let alone = await expectStatus(.invalidArgument) { try await self.record(context.clientA, [tooBig]) }
      #expect(alone?.message.contains("stored before it") == false, "nothing was stored: nothing to say")
    }
  }
}
