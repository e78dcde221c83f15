import Foundation
import SwiftProtobuf
import TallyProto
import TallyStore
import TallyWire

/// Engagement events: the known types, validation, and the COPY text rows they travel in.
enum EventRecord {
  /// Every event type the KPI catalogue reads (KPIS.md).
  static let types: Set<String> = [
    "email_sent", "email_delivered", "email_bounced", "email_opened", "email_clicked", "email_replied",
    "email_unsubscribed", "ad_impression", "ad_click", "web_visit", "content_view", "content_download",
    "content_share", "form_view", "form_submitted", "cta_view", "cta_converted", "event_registered",
    "event_attended", "social_engagement", "meeting_scheduled", "meeting_held", "call_dialed", "sales_email",
    "conversation", "task_completed", "support_question", "support_answered",
  ]
  static let sortedTypes = types.sorted()

  /// 2000-01-01T00:00:00Z: older events are typos, and bound how many partitions there can be.
  static let earliestMicros: Int64 = 946_684_800_000_000

  /// The first violation of an event, or nil when it may be stored; `now` in microseconds.
  static func firstViolation(_ event: Tally_V1_Event, now: Int64) -> RPCError.FieldViolation? {
    var checker = FieldChecker()
    checker.id(event.key, "key")
    if let first = checker.violations.first { return first }
    if !event.hasOccurredAt {
      return .init(field: "occurred_at", description: "is required")
    }
    if !(0..<1_000_000_000).contains(event.occurredAt.nanos) {
      return .init(field: "occurred_at", description: "nanos must be 0 to 999,999,999, got \(event.occurredAt.nanos)")
    }
    let occurred = micros(event.occurredAt)
    if occurred < earliestMicros {
      return .init(field: "occurred_at", description: "must be 2000-01-01 or later")
    }
    if occurred > now + 86_400_000_000 {
      return .init(field: "occurred_at", description: "must be at most one day in the future")
    }
    if !types.contains(event.type) {
      let shown = event.type.isEmpty ? "nothing" : "\"\(event.type.prefix(40))\""
      return .init(field: "type", description: "must be a known event type (see docs/PROTOCOL.md), got \(shown)")
    }
    checker.text(event.accountID, "account_id")
    checker.text(event.contactID, "contact_id")
    checker.text(event.campaignID, "campaign_id")
    checker.text(event.assetID, "asset_id")
    checker.text(event.repID, "rep_id")
    if event.value.magnitude > FieldChecker.maxMoney.magnitude {
      checker.add("value", "must be between -10^15 and 10^15, got \(event.value)")
    }
    if event.durationSeconds > 86_400 {
      checker.add("duration_seconds", "must be 0 to 86,400 (one day), got \(event.durationSeconds)")
    }
    checker.map(event.properties, "properties")
    return checker.violations.first
  }

  /// Columns of the staging table, in COPY order.
  static let stagingColumns = """
    event_key text, occurred_us bigint, type text, account_id text, contact_id text, campaign_id text,
    asset_id text, duration_seconds integer, value bigint, rep_id text, properties jsonb
    """

  /// Appends one event as a line of COPY text format.
  static func appendCopyRow(_ event: Tally_V1_Event, to out: inout [UInt8]) {
    appendCopyText(event.key, to: &out)
    out.append(0x09)
    out.append(contentsOf: String(micros(event.occurredAt)).utf8)
    out.append(0x09)
    out.append(contentsOf: event.type.utf8)
    for text in [event.accountID, event.contactID, event.campaignID, event.assetID] {
      out.append(0x09)
      appendCopyOptional(text, to: &out)
    }
    out.append(0x09)
    if event.durationSeconds > 0 { out.append(contentsOf: String(event.durationSeconds).utf8) } else { nullValue(&out) }
    out.append(0x09)
    out.append(contentsOf: String(event.value).utf8)
    out.append(0x09)
    appendCopyOptional(event.repID, to: &out)
    out.append(0x09)
    if event.properties.isEmpty { nullValue(&out) } else { appendCopyText(JSONMap.encode(event.properties), to: &out) }
    out.append(0x0A)
  }

  private static func nullValue(_ out: inout [UInt8]) { out.append(contentsOf: [0x5C, 0x4E]) }

  private static func appendCopyOptional(_ text: String, to out: inout [UInt8]) {
    if text.isEmpty { nullValue(&out) } else { appendCopyText(text, to: &out) }
  }

  /// COPY text escaping: backslash, tab, newline and carriage return.
  static func appendCopyText(_ text: String, to out: inout [UInt8]) {
    for byte in text.utf8 {
      switch byte {
      case 0x5C: out.append(contentsOf: [0x5C, 0x5C])
      case 0x09: out.append(contentsOf: [0x5C, 0x74])
      case 0x0A: out.append(contentsOf: [0x5C, 0x6E])
      case 0x0D: out.append(contentsOf: [0x5C, 0x72])
      default: out.append(byte)
      }
    }
  }

  /// Months since 1970-01 of a time in microseconds (UTC).
  static func monthIndex(_ micros: Int64) -> Int {
    let days = Int((micros >= 0 ? micros : micros - 86_399_999_999) / 86_400_000_000)
    let (year, month, _) = CivilDay(dayNumber: days).civil
    return (year - 1970) * 12 + (month - 1)
  }

  /// "YYYY-MM-01" of a month index.
  static func firstDay(ofMonth index: Int) -> String {
    let year = 1970 + Int((Double(index) / 12).rounded(.down))
    let month = index - (year - 1970) * 12 + 1
    return String(format: "%04d-%02d-01", year, month)
  }

  static let columns = """
    event_key, \(Micros.column("occurred_at")), type, account_id, contact_id, campaign_id, asset_id,
    duration_seconds, value, rep_id, properties::text AS properties
    """

  static func message(_ row: PostgresRow) throws -> Tally_V1_Event {
    var event = Tally_V1_Event()
    event.key = try row.require(String.self, "event_key")
    event.occurredAt = Micros.timestamp(try row.require(Int64.self, "occurred_at"))
    event.type = try row.require(String.self, "type")
    event.accountID = try row.decode(String.self, "account_id") ?? ""
    event.contactID = try row.decode(String.self, "contact_id") ?? ""
    event.campaignID = try row.decode(String.self, "campaign_id") ?? ""
    event.assetID = try row.decode(String.self, "asset_id") ?? ""
    event.durationSeconds = UInt32(try row.decode(Int.self, "duration_seconds") ?? 0)
    event.value = try row.decode(Int64.self, "value") ?? 0
    event.repID = try row.decode(String.self, "rep_id") ?? ""
    event.properties = JSONMap.decode(try row.decode(String.self, "properties"))
    return event
  }
}
