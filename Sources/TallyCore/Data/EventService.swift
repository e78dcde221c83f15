import Foundation
import NIOConcurrencyHelpers
import SwiftProtobuf
import TallyProto
import TallyStore
import TallyWire

/// `tally.v1.EventService`: batched, idempotent ingestion through COPY, and streamed reads.
public struct EventService: Sendable {
  static let maxBatch = 10_000
  static let maxListedRejections = 1_000
  static let defaultListLimit = 100_000
  static let maxListLimit = 1_000_000
  static let listChunk = 1_000

  private let database: TenantDatabase
  /// Months whose partition is known to exist, so a batch asks PostgreSQL only about new ones.
  private let knownMonths = NIOLockedValueBox(Set<Int>())
  private let counters: IngestCounters

  public init(database: TenantDatabase, counters: IngestCounters = .none) {
    self.database = database
    self.counters = counters
  }

  public func register(into router: inout Router) {
    router.clientStreaming(EventMethods.recordEvents, access: .tenantWrite, self.recordEvents)
    router.serverStreaming(EventMethods.listEvents, access: .tenantRead, self.listEvents)
  }

  /// `events` in responses that each fit a frame of `maxBytes`: one, unless the events are large
  /// (a thousand events of 5 KB of properties each held 5 MB, refused as a response for good).
  /// An event's exact size is computed only when a bound on the whole says it may not fit.
  static func responses(_ events: [Tally_V1_Event], maxBytes: Int) throws -> [Tally_V1_ListEventsResponse] {
    let bound = events.reduce(0) { total, event in
      total + 64 + event.key.utf8.count + event.type.utf8.count + event.accountID.utf8.count
        + event.contactID.utf8.count + event.campaignID.utf8.count + event.assetID.utf8.count
        + event.repID.utf8.count + event.properties.reduce(0) { $0 + 12 + $1.key.utf8.count + $1.value.utf8.count }
    }
    guard bound > maxBytes else { return [.with { $0.events = events }] }
    var responses: [Tally_V1_ListEventsResponse] = []
    var current = Tally_V1_ListEventsResponse()
    var size = 0
    for event in events {
      // The event's bytes, its field tag and its length's varint (at most 5 bytes).
      let eventSize = (try event.serializedBytes() as [UInt8]).count + 6
      if size + eventSize > maxBytes, !current.events.isEmpty {
        responses.append(current)
        (current, size) = (Tally_V1_ListEventsResponse(), 0)
      }
      current.events.append(event)
      size += eventSize
    }
    responses.append(current)
    return responses
  }

  @Sendable func recordEvents(_ requests: RequestStream<Tally_V1_RecordEventsRequest>, _ context: RequestContext)
    async throws -> Tally_V1_RecordEventsResponse
  {
    var response = Tally_V1_RecordEventsResponse()
    do {
      // Once per stream: a batch without a valid event stores nothing, and answered OK for a tenant
      // an operator key named that does not exist.
      try await self.database.checkTenant(context)
      for try await request in requests {
        guard request.events.count <= Self.maxBatch else {
          throw RPCError.invalidArgument(
            field: "events",
            "at most \(Self.maxBatch) events per message, got \(request.events.count) in message \(response.batches)")
        }
        let outcome = try await self.record(request.events, batch: response.batches, context)
        self.counters.count(outcome)
        response.accepted += UInt64(outcome.accepted)
        response.duplicates += UInt64(outcome.duplicates)
        response.rejected += UInt64(outcome.rejections.count)
        response.rejections += outcome.rejections.prefix(max(0, Self.maxListedRejections - response.rejections.count))
        response.batches += 1
      }
    } catch let error as RPCError {
      throw error.endingStream(afterStoring: response.batches)
    }
    return response
  }

  struct BatchOutcome {
    var accepted = 0
    var duplicates = 0
    var rejections: [Tally_V1_RejectedItem] = []
  }

  /// Validates, drops repeats within the batch, then stores the rest in one transaction: COPY into a
  /// staging table, keys claimed in `event_keys`, and only the newly claimed events inserted.
  func record(_ events: [Tally_V1_Event], batch: UInt32, _ context: RequestContext) async throws -> BatchOutcome {
    var outcome = BatchOutcome()
    let now = Int64(Date().timeIntervalSince1970 * 1_000_000)
    var seen = Set<ExactID>()  // keys by their bytes, as event_keys compares them
    var copyText: [UInt8] = []
    copyText.reserveCapacity(events.count * 96)
    var months = Set<Int>()
    var valid = 0
    for (index, event) in events.enumerated() {
      if let violation = EventRecord.firstViolation(event, now: now) {
        outcome.rejections.append(
          .init(batch: batch, list: "events", index: index, id: event.key, violation: violation))
      } else if !seen.insert(ExactID(event.key)).inserted {
        outcome.duplicates += 1
      } else {
        EventRecord.appendCopyRow(event, to: &copyText)
        months.insert(EventRecord.monthIndex(micros(event.occurredAt)))
        valid += 1
      }
    }
    guard valid > 0 else { return outcome }
    try await self.ensurePartitions(months, context)
    let rows = copyText
    let inserted: Int
    do {
      inserted = try await self.database.transaction(context) { connection in
        try connection.execute("CREATE TEMP TABLE event_staging (\(EventRecord.stagingColumns)) ON COMMIT DROP")
        _ = try connection.copyIn("COPY event_staging FROM STDIN", chunks: CollectionOfOne(rows))
        return try connection.queryAndCommit(Self.insertClaimedEventsSQL).rows[0].require(Int.self, "inserted")
      }
    } catch var error as RPCError where error.code == .outOfRange {
      // Only the rollup's sums can pass their range (each event's numbers are checked above).
      error.message =
        "events[].value or duration_seconds: the total of one UTC day's events of one type, account, campaign "
        + "and asset would pass the range of a 64-bit integer (-2^63 to 2^63 - 1); this message stored none of its "
        + "events: spread such values over more days, accounts or types, or make them smaller"
      throw error
    }
    outcome.accepted = inserted
    outcome.duplicates += valid - inserted
    return outcome
  }

  /// Claims the staged keys, inserts the events whose key was free, and adds exactly those events to
  /// the daily rollup. Keys and rollup rows are written in key order, so concurrent batches that
  /// share some wait for each other in one order and never deadlock.
  static let insertClaimedEventsSQL = """
    WITH fresh AS (
      INSERT INTO event_keys (tenant_id, event_key, occurred_at)
      SELECT \(currentTenantSQL), event_key, \(Micros.sql("occurred_us")) FROM event_staging ORDER BY event_key
      ON CONFLICT DO NOTHING RETURNING event_key
    ), stored AS (
      INSERT INTO events (tenant_id, event_key, occurred_at, type, account_id, contact_id, campaign_id, asset_id,
        duration_seconds, value, rep_id, properties)
      SELECT \(currentTenantSQL), s.event_key, \(Micros.sql("s.occurred_us")), s.type, s.account_id, s.contact_id,
        s.campaign_id, s.asset_id, s.duration_seconds, s.value, s.rep_id, s.properties
      FROM event_staging s JOIN fresh USING (event_key)
      RETURNING occurred_at, type, account_id, campaign_id, asset_id, duration_seconds, value
    ), daily AS (
      INSERT INTO event_rollup_daily (tenant_id, day, type, account_id, campaign_id, asset_id, events, seconds, value)
      SELECT \(currentTenantSQL), (occurred_at AT TIME ZONE 'UTC')::date AS day, type, coalesce(account_id, '') AS a,
        coalesce(campaign_id, '') AS c, coalesce(asset_id, '') AS s, count(*), coalesce(sum(duration_seconds), 0),
        coalesce(sum(value), 0)
      FROM stored GROUP BY 2, 3, 4, 5, 6 ORDER BY 2, 3, 4, 5, 6
      ON CONFLICT (tenant_id, day, type, account_id, campaign_id, asset_id) DO UPDATE SET
        events = event_rollup_daily.events + excluded.events, seconds = event_rollup_daily.seconds + excluded.seconds,
        value = event_rollup_daily.value + excluded.value
    )
    SELECT count(*)::bigint AS inserted FROM stored
    """

  /// Creates the partitions of months not seen before (in their own short transactions). They
  /// store none of the call's data, so they do not mark its idempotency claim (TransactionMark).
  private func ensurePartitions(_ months: Set<Int>, _ context: RequestContext) async throws {
    let missing = self.knownMonths.withLockedValue { months.subtracting($0) }
    guard !missing.isEmpty else { return }
    try await TransactionMark.$current.withValue(nil) {
      try await self.ensure(missing)
    }
    self.knownMonths.withLockedValue { $0.formUnion(missing) }
  }

  private func ensure(_ missing: Set<Int>) async throws {
    try await self.database.pool.withTransaction(tenant: nil) { connection in
      for month in missing.sorted() {
        let day = EventRecord.firstDay(ofMonth: month)
        try connection.query("SELECT ensure_event_partitions($1::date, $1::date)", [day])
      }
    }
  }

  @Sendable func listEvents(
    _ request: Tally_V1_ListEventsRequest,
    _ context: RequestContext,
    _ writer: ResponseWriter<Tally_V1_ListEventsResponse>
  ) async throws {
    var checker = FieldChecker()
    let from = checker.timestamp(request.hasFrom ? request.from : nil, "from")
    let to = checker.timestamp(request.hasTo ? request.to : nil, "to")
    if let from, let to, to < from { checker.add("to", "must not be before from") }
    for (field, value) in [("account_id", request.accountID), ("contact_id", request.contactID)] {
      checker.text(value, field)
    }
    checker.text(request.campaignID, "campaign_id")
    for (index, type) in request.types.enumerated() where !EventRecord.types.contains(type) {
      checker.add("types[\(index)]", "must be a known event type, got \"\(type.prefix(40))\"")
    }
    if request.limit > Self.maxListLimit {
      checker.add("limit", "must be at most \(Self.maxListLimit), got \(request.limit)")
    }
    try checker.check()
    var remaining = request.limit == 0 ? Self.defaultListLimit : Int(request.limit)
    var after: (Int64, String)? = nil
    let types = request.types.isEmpty ? nil : PostgresArray.literal(request.types)
    while remaining > 0 {
      let cursor = after
      let chunk = min(remaining, Self.listChunk)
      let rows = try await self.database.transaction(context) { connection in
        try connection.query(
          """
          SELECT \(EventRecord.columns) FROM events
          WHERE ($1::bigint IS NULL OR occurred_at >= \(Micros.sql("$1")))
            AND ($2::bigint IS NULL OR occurred_at < \(Micros.sql("$2")))
            AND ($3::text IS NULL OR account_id = $3) AND ($4::text IS NULL OR contact_id = $4)
            AND ($5::text IS NULL OR campaign_id = $5) AND ($6::text[] IS NULL OR type = ANY($6::text[]))
            AND ($7::bigint IS NULL OR (occurred_at, event_key) > (\(Micros.sql("$7")), $8::text))
          ORDER BY occurred_at, event_key LIMIT $9
          """,
          [
            from, to, nonEmpty(request.accountID), nonEmpty(request.contactID), nonEmpty(request.campaignID), types,
            cursor?.0, cursor?.1, chunk,
          ]
        ).rows
      }
      guard !rows.isEmpty else { return }
      let events = try rows.map(EventRecord.message)
      for response in try Self.responses(events, maxBytes: context.maxResponseBytes) {
        try await writer.send(response)
      }
      remaining -= rows.count
      if let last = events.last { after = (micros(last.occurredAt), last.key) }
      if rows.count < chunk { return }
    }
  }
}
