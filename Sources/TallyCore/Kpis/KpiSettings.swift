import Foundation
import TallyProto

/// A tenant's KPI settings: what it changed, over the defaults. Stored as the changed values only
/// (jsonb), so a default the server improves later reaches every tenant that never touched it.
struct KpiSettings: Codable, Equatable, Sendable {
  /// Engagement minutes per event type; types not listed weigh 0.
  static let defaultWeights: [String: Double] = [
    "email_opened": 0.5, "email_clicked": 1, "email_replied": 2, "ad_impression": 0, "ad_click": 1, "web_visit": 1,
    "content_view": 2, "content_download": 10, "content_share": 5, "form_submitted": 10, "cta_converted": 10,
    "event_registered": 5, "event_attended": 30, "social_engagement": 1, "meeting_scheduled": 15,
    "meeting_held": 30, "conversation": 10,
  ]

  var eventWeights: [String: Double] = [:]
  var tierMultipliers: [String: Double] = [:]
  var roleMultipliers: [String: Double] = [:]
  var decayHalfLifeDays: Int?
  var mqaThreshold: Double?
  var influenceLookbackDays: Int?
  var grossMarginPercent: Int?
  var minContacts: Int?
  var engagedThreshold: Double?

  var halfLifeDays: Int { self.decayHalfLifeDays ?? 30 }
  var lookbackDays: Int { self.influenceLookbackDays ?? 90 }
  var grossMargin: Double { Double(self.grossMarginPercent ?? 100) / 100 }
  var coverageMinContacts: Int { self.minContacts ?? 3 }
  var mqa: Double { self.mqaThreshold ?? 100 }
  var engaged: Double { self.engagedThreshold ?? 10 }

  func weight(_ type: String) -> Double { self.eventWeights[type] ?? Self.defaultWeights[type] ?? 0 }

  /// From an UpdateSettings request: every violation named by its field. Zero means "the default".
  init(_ message: Tally_V1_KpiSettings, _ checker: inout FieldChecker) {
    /// A map's keys from a fixed list, its values within `range`.
    func entries(
      _ map: [String: Double], _ field: String, keys: [String], keyRule: String, range: ClosedRange<Double>,
      valueRule: String
    ) {
      for (key, value) in map.sorted(by: { $0.key < $1.key }) {
        if !keys.contains(key) {
          checker.add("settings.\(field)[\(key.prefix(40))]", keyRule)
        } else if !range.contains(value) {
          checker.add("settings.\(field)[\(key)]", "\(valueRule), got \(value)")
        }
      }
    }
    let types = EventRecord.types.sorted()
    entries(
      message.eventWeights, "event_weights", keys: types,
      keyRule: "must be an event type: \(types.joined(separator: ", "))",
      range: 0...10_000, valueRule: "must be 0 to 10,000 engagement minutes")
    entries(
      message.tierMultipliers, "tier_multipliers", keys: ["0", "1", "2", "3"], keyRule: "must be a tier 0 to 3",
      range: 0...100, valueRule: "must be 0 to 100")
    entries(
      message.roleMultipliers, "role_multipliers", keys: ContactRecord.roles,
      keyRule: "must be a contact role: \(ContactRecord.roles.joined(separator: ", "))", range: 0...100,
      valueRule: "must be 0 to 100")
    func bounded(_ value: UInt32, _ field: String, _ range: ClosedRange<UInt32>) -> Int? {
      guard value != 0 else { return nil }
      if !range.contains(value) {
        checker.add(field, "must be \(range.lowerBound) to \(range.upperBound), or 0 for the default; got \(value)")
      }
      return Int(value)
    }
    self.eventWeights = message.eventWeights
    self.tierMultipliers = message.tierMultipliers
    self.roleMultipliers = message.roleMultipliers
    self.decayHalfLifeDays = bounded(message.decayHalfLifeDays, "settings.decay_half_life_days", 1...365)
    self.influenceLookbackDays = bounded(message.influenceLookbackDays, "settings.influence_lookback_days", 1...730)
    self.grossMarginPercent = bounded(message.grossMarginPercent, "settings.gross_margin_percent", 1...100)
    self.minContacts = bounded(message.minContacts, "settings.min_contacts", 1...100)
    if message.engagedThreshold != 0 {
      if !(message.engagedThreshold > 0 && message.engagedThreshold <= 1_000_000) {
        checker.add(
          "settings.engaged_threshold",
          "must be above 0 and at most 1,000,000, or 0 for the default; got \(message.engagedThreshold)")
      }
      self.engagedThreshold = message.engagedThreshold
    }
    if message.mqaThreshold != 0 {
      if !(message.mqaThreshold > 0 && message.mqaThreshold <= 1_000_000) {
        checker.add(
          "settings.mqa_threshold",
          "must be above 0 and at most 1,000,000, or 0 for the default; got \(message.mqaThreshold)")
      }
      self.mqaThreshold = message.mqaThreshold
    }
    // The journey's "engaged" stage lies below MQA: at or above it, the stage is always empty.
    if self.engaged >= self.mqa {
      if message.engagedThreshold != 0 {
        checker.add(
          "settings.engaged_threshold", "must be below mqa_threshold (\(self.mqa)); got \(self.engaged)")
      } else {
        checker.add(
          "settings.mqa_threshold", "must be above engaged_threshold (\(self.engaged)); got \(self.mqa)")
      }
    }
  }

  init() {}

  /// The effective settings, defaults filled in, as GetSettings answers them.
  func message(currency: String) -> Tally_V1_KpiSettings {
    var message = Tally_V1_KpiSettings()
    message.eventWeights = Dictionary(uniqueKeysWithValues: EventRecord.types.sorted().map { ($0, self.weight($0)) })
    message.tierMultipliers = Dictionary(
      uniqueKeysWithValues: (0...3).map { ("\($0)", self.tierMultipliers["\($0)"] ?? 1) })
    message.roleMultipliers = Dictionary(
      uniqueKeysWithValues: ContactRecord.roles.map { ($0, self.roleMultipliers[$0] ?? 1) })
    message.decayHalfLifeDays = UInt32(self.halfLifeDays)
    message.mqaThreshold = self.mqa
    message.engagedThreshold = self.engaged
    message.influenceLookbackDays = UInt32(self.lookbackDays)
    message.grossMarginPercent = UInt32(self.grossMarginPercent ?? 100)
    message.minContacts = UInt32(self.coverageMinContacts)
    message.currency = currency
    return message
  }

  enum CodingKeys: String, CodingKey {
    case eventWeights = "event_weights"
    case tierMultipliers = "tier_multipliers"
    case roleMultipliers = "role_multipliers"
    case decayHalfLifeDays = "decay_half_life_days"
    case mqaThreshold = "mqa_threshold"
    case influenceLookbackDays = "influence_lookback_days"
    case grossMarginPercent = "gross_margin_percent"
    case minContacts = "min_contacts"
    case engagedThreshold = "engaged_threshold"
  }

  /// The stored form: the changed values only. A value equal to its default is left out too, so
  /// that it follows the default: a client that sends every effective value back with one change
  /// (as `tally kpi settings --set` does) would otherwise freeze all the others.
  var json: String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = .sortedKeys
    return (try? encoder.encode(self.changedOnly)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
  }

  /// These settings without the values equal to the defaults.
  var changedOnly: KpiSettings {
    let defaults = KpiSettings()
    var changed = self
    changed.eventWeights = self.eventWeights.filter { $0.value != defaults.weight($0.key) }
    changed.tierMultipliers = self.tierMultipliers.filter { $0.value != 1 }
    changed.roleMultipliers = self.roleMultipliers.filter { $0.value != 1 }
    if self.halfLifeDays == defaults.halfLifeDays { changed.decayHalfLifeDays = nil }
    if self.lookbackDays == defaults.lookbackDays { changed.influenceLookbackDays = nil }
    if self.grossMargin == defaults.grossMargin { changed.grossMarginPercent = nil }
    if self.coverageMinContacts == defaults.coverageMinContacts { changed.minContacts = nil }
    if self.mqa == defaults.mqa { changed.mqaThreshold = nil }
    if self.engaged == defaults.engaged { changed.engagedThreshold = nil }
    return changed
  }

  /// Stored settings; a row written by a newer server with fields this one does not know still reads.
  init(json: String) throws {
    self = try JSONDecoder().decode(KpiSettings.self, from: Data(json.utf8))
  }

  init(from decoder: any Decoder) throws {
    let container = try decoder.container(keyedBy: CodingKeys.self)
    self.eventWeights = try container.decodeIfPresent([String: Double].self, forKey: .eventWeights) ?? [:]
    self.tierMultipliers = try container.decodeIfPresent([String: Double].self, forKey: .tierMultipliers) ?? [:]
    self.roleMultipliers = try container.decodeIfPresent([String: Double].self, forKey: .roleMultipliers) ?? [:]
    self.decayHalfLifeDays = try container.decodeIfPresent(Int.self, forKey: .decayHalfLifeDays)
    self.mqaThreshold = try container.decodeIfPresent(Double.self, forKey: .mqaThreshold)
    self.influenceLookbackDays = try container.decodeIfPresent(Int.self, forKey: .influenceLookbackDays)
    self.grossMarginPercent = try container.decodeIfPresent(Int.self, forKey: .grossMarginPercent)
    self.minContacts = try container.decodeIfPresent(Int.self, forKey: .minContacts)
    self.engagedThreshold = try container.decodeIfPresent(Double.self, forKey: .engagedThreshold)
  }
}
