import Foundation
import SwiftProtobuf
import TallyProto

/// Synthetic engagement events. Event `n` is a pure function of the seed and `n`, so any number of
/// tasks can make disjoint ranges with no shared state, and `ingest`, the `\copy` baseline and
/// `seed` load the same rows.
struct EventGenerator: Sendable {
  /// Types and their weights in percent: a marketing-heavy mix as an agency's feeds send it.
  static let mix: [(type: String, weight: UInt64)] = [
    ("email_sent", 20), ("email_delivered", 19), ("email_opened", 10), ("email_clicked", 3),
    ("ad_impression", 20), ("ad_click", 2), ("web_visit", 12), ("content_view", 5), ("content_download", 1),
    ("form_view", 2), ("form_submitted", 1), ("cta_view", 2), ("cta_converted", 1), ("meeting_scheduled", 1),
    ("meeting_held", 1),
  ]
  /// One entry per percent, so a type is one lookup.
  static let table: [String] = Self.mix.flatMap { Array(repeating: $0.type, count: Int($0.weight)) }

  var seed: UInt64
  var keyPrefix: String
  /// Accounts `a-0` ..< `a-<accounts>`, eight contacts each.
  var accounts: Int
  /// Events fall in the year before this instant (Unix seconds).
  var end: Int64

  static let campaigns: UInt64 = 20

  /// SplitMix64: a full-period 64-bit mix, good enough to spread fields and cheap.
  static func mix(_ value: UInt64) -> UInt64 {
    var z = value &+ 0x9E37_79B9_7F4A_7C15
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }

  struct Fields {
    var key: String
    var occurredAt: Int64
    var type: String
    var accountID: String
    var contactID: String
    var campaignID: String
    var assetID: String
    var durationSeconds: UInt32
    var repID: String
  }

  func fields(_ n: UInt64) -> Fields {
    let h = Self.mix(self.seed ^ n)
    let type = Self.table[Int(h % 100)]
    let account = (h >> 8) % UInt64(max(self.accounts, 1))
    let campaign = type.hasPrefix("meeting") ? "" : "cmp-\((h >> 40) % Self.campaigns)"
    let asset =
      type.hasPrefix("content") || type.hasPrefix("cta") || type.hasPrefix("form") ? "asset-\((h >> 44) % 50)" : ""
    let duration = type == "web_visit" || type == "content_view" ? UInt32((h >> 48) % 600) : 0
    return Fields(
      key: "\(self.keyPrefix)\(n)", occurredAt: self.end - Int64((h >> 16) % (365 * 86_400)), type: type,
      accountID: "a-\(account)", contactID: "c-\(account)-\((h >> 36) % 8)", campaignID: campaign, assetID: asset,
      durationSeconds: duration, repID: type.hasPrefix("meeting") ? "rep-\((h >> 52) % 10)" : "")
  }

  func event(_ n: UInt64) -> Tally_V1_Event {
    let fields = self.fields(n)
    var event = Tally_V1_Event()
    event.key = fields.key
    event.occurredAt = Google_Protobuf_Timestamp(seconds: fields.occurredAt, nanos: 0)
    event.type = fields.type
    event.accountID = fields.accountID
    event.contactID = fields.contactID
    event.campaignID = fields.campaignID
    event.assetID = fields.assetID
    event.durationSeconds = fields.durationSeconds
    event.repID = fields.repID
    return event
  }

  func request(_ range: Range<UInt64>) -> Tally_V1_RecordEventsRequest {
    var request = Tally_V1_RecordEventsRequest()
    request.events = range.map(self.event)
    return request
  }

  /// The events of `range` as PostgreSQL COPY text for the `\copy` baseline: rows of `events`
  /// (the columns of `eventColumns`) and of `event_keys`, as the server stores them.
  func copyText(_ range: Range<UInt64>, tenantID: String) -> (events: String, keys: String) {
    var events = ""
    var keys = ""
    for n in range {
      let f = self.fields(n)
      let occurred = Self.timestamp(f.occurredAt)
      let optional = { (value: String) in value.isEmpty ? "\\N" : value }
      let duration = f.durationSeconds > 0 ? String(f.durationSeconds) : "\\N"
      events +=
        [
          tenantID, f.key, occurred, f.type, f.accountID, f.contactID, optional(f.campaignID), optional(f.assetID),
          duration, "0", optional(f.repID),
        ].joined(separator: "\t") + "\n"
      keys += "\(tenantID)\t\(f.key)\t\(occurred)\n"
    }
    return (events, keys)
  }

  /// `YYYY-MM-DD hh:mm:ss+00`, which timestamptz reads in any session time zone.
  static func timestamp(_ seconds: Int64) -> String {
    var time = time_t(seconds)
    var parts = tm()
    gmtime_r(&time, &parts)
    return String(
      format: "%04d-%02d-%02d %02d:%02d:%02d+00", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday, parts.tm_hour,
      parts.tm_min, parts.tm_sec)
  }

  static let eventColumns =
    "tenant_id, event_key, occurred_at, type, account_id, contact_id, campaign_id, asset_id, duration_seconds, value, rep_id"
}
