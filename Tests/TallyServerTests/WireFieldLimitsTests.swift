import Foundation
import NIOCore
import SwiftProtobuf
import TallyProto
import TallyTestSupport
import TallyWire
import Testing

@testable import TallyCore

/// Lists counted on a request's wire form before it is decoded.
@Suite struct WireFieldLimitsTests {
  private static func firstPassed(_ limits: [WireFieldLimit], _ message: some Message) throws -> WireFieldOverLimit? {
    try Self.firstPassed(limits, message.serializedBytes())
  }

  /// The limit `bytes` pass, nil within them; an issue if they are unreadable.
  private static func firstPassed(
    _ limits: [WireFieldLimit], _ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation
  ) -> WireFieldOverLimit? {
    switch WireFieldLimit.count(limits, in: ByteBuffer(bytes: bytes)) {
    case .withinLimits: return nil
    case .passed(let passed): return passed
    case .unreadable:
      Issue.record("the bytes were not readable", sourceLocation: sourceLocation)
      return nil
    case .sameKey(let clash):
      Issue.record("a key clash was found: \(clash)", sourceLocation: sourceLocation)
      return nil
    }
  }

  /// `message` as a length-delimited field 1 (`events[i]`, `account`): one byte of length will do.
  private static func field1(_ message: [UInt8]) -> [UInt8] {
    precondition(message.count < 0x80)
    return [0x0a, UInt8(message.count)] + message
  }

  private static func event(_ key: String, _ value: String) throws -> [UInt8] {
    var event = Tally_V1_Event()
    event.properties[key] = value
    return try event.serializedBytes()
  }

  private static func events(_ count: Int, properties: Int = 0, at index: Int = 0) -> Tally_V1_RecordEventsRequest {
    var request = Tally_V1_RecordEventsRequest()
    request.events = Array(repeating: Tally_V1_Event(), count: count)
    for key in 0..<properties { request.events[index].properties["p\(key)"] = "" }
    return request
  }

  /// A request holding text with a run of combining marks past Unicode's stream-safe 30 is
  /// refused before it is decoded (decoding hashes map keys, in time quadratic in the run).
  @Test func textWithALongRunOfCombiningMarksIsRefusedBeforeDecoding() throws {
    var upsert = Tally_V1_UpsertAccountRequest()
    upsert.account.id = "acme"
    upsert.account.attributes["e" + String(repeating: "\u{0301}", count: 16_000)] = "x"
    let bytes = ByteBuffer(bytes: try upsert.serializedBytes() as [UInt8])
    let (error, took) = threadCPUTime {
      #expect(throws: RPCError.self) { try decodeRequest(Tally_V1_UpsertAccountRequest.self, from: bytes) }
    }
    #expect(took < .milliseconds(100), "refused after \(took) of CPU")
    #expect(error?.code == .invalidArgument)
    #expect(error?.message.contains("holds text with more than 30 combining marks in a row (at byte ") == true)
    // Thirty in a row are decoded as ever.
    upsert.account.attributes = ["e" + String(repeating: "\u{0301}", count: 30): "x"]
    let decoded = try decodeRequest(
      Tally_V1_UpsertAccountRequest.self, from: ByteBuffer(bytes: try upsert.serializedBytes() as [UInt8]))
    #expect(decoded == upsert)
  }

  /// An account's past tenures are counted on the wire, replaced or not: 4 MiB of empty ones
  /// decoded into 1.4 million messages before the service's count of 100 ran (only on replace).
  @Test func pastTenuresAreCountedWhetherOrNotTheyReplace() throws {
    var upsert = Tally_V1_UpsertAccountRequest()
    upsert.account.pastTenures = Array(repeating: .init(), count: 100)
    #expect(try Self.firstPassed(Tally_V1_UpsertAccountRequest.wireFieldLimits, upsert) == nil)
    upsert.account.pastTenures.append(.init())
    #expect(
      try Self.firstPassed(Tally_V1_UpsertAccountRequest.wireFieldLimits, upsert)
        == WireFieldOverLimit(field: "account.past_tenures", max: 100, found: 101))
    var imported = Tally_V1_ImportAccountsRequest()
    imported.accounts = [Tally_V1_Account(), upsert.account]
    #expect(
      try Self.firstPassed(Tally_V1_ImportAccountsRequest.wireFieldLimits, imported)
        == WireFieldOverLimit(field: "accounts[1].past_tenures", max: 100, found: 101))
  }

  @Test func aListAtItsMostPassesAndOneMoreIsNamed() throws {
    let limits = Tally_V1_RecordEventsRequest.wireFieldLimits
    #expect(try Self.firstPassed(limits, Self.events(10_000)) == nil)
    #expect(
      try Self.firstPassed(limits, Self.events(10_001))
        == WireFieldOverLimit(field: "events", max: 10_000, found: 10_001))
    // Every entry's own list is counted on its own, and named by the entry's index.
    // A streamed row's map past the service's 100 is the service's to reject alone; past 1,000 it
    // ends the stream.
    #expect(try Self.firstPassed(limits, Self.events(5, properties: 1_000, at: 3)) == nil)
    #expect(
      try Self.firstPassed(limits, Self.events(5, properties: 1_001, at: 3))
        == WireFieldOverLimit(field: "events[3].properties", max: 1_000, found: 1_001))
  }

  /// A singular message field sent twice merges into one message: its lists add up.
  @Test func aMessageFieldSentInPartsIsCountedWhole() throws {
    var half = Tally_V1_GetKpisRequest()
    half.filter.accountIds = Array(repeating: "a", count: 600)
    var bytes: [UInt8] = try half.serializedBytes()
    #expect(Self.firstPassed(Tally_V1_GetKpisRequest.wireFieldLimits, bytes) == nil)
    bytes += try half.serializedBytes() as [UInt8]
    #expect(try Tally_V1_GetKpisRequest(serializedBytes: bytes).filter.accountIds.count == 1_200)
    #expect(
      Self.firstPassed(Tally_V1_GetKpisRequest.wireFieldLimits, bytes)
        == WireFieldOverLimit(field: "filter.account_ids", max: 1_000, found: 1_200))
  }

  /// Numbers count one each, whether packed into one entry (proto3's default) or one per entry.
  @Test func packedAndUnpackedNumbersCountTheSame() throws {
    var request = Tally_V1_GetKpisRequest()
    request.filter.tiers = Array(repeating: 300, count: 1_001)  // two bytes each
    let limits = Tally_V1_GetKpisRequest.wireFieldLimits
    #expect(
      try Self.firstPassed(limits, request) == WireFieldOverLimit(field: "filter.tiers", max: 1_000, found: 1_001))
    request.filter.tiers.removeLast()
    #expect(try Self.firstPassed(limits, request) == nil)
    // The same 1,001 values unpacked: key 0x18 (field 3, varint), then 300.
    var filter: [UInt8] = []
    for _ in 0..<1_001 { filter += [0x18, 0xac, 0x02] }
    let unpacked: [UInt8] = [0x32, 0xbb, 0x17] + filter  // field 6, 3,003 bytes
    #expect(try Tally_V1_GetKpisRequest(serializedBytes: unpacked).filter.tiers.count == 1_001)
    #expect(Self.firstPassed(limits, unpacked) == WireFieldOverLimit(field: "filter.tiers", max: 1_000, found: 1_001))
  }

  /// Bytes the scan cannot read are refused, not waved through: a balanced group, which no Tally
  /// message has, is skipped by the decoder, and with it would go every count after it.
  @Test func unreadableBytesAndGroupsAreRefused() throws {
    let limits = Tally_V1_RecordEventsRequest.wireFieldLimits
    for bytes: [UInt8] in [[0x0a], [0x0a, 0x05, 0x00], [0xff, 0xff], [0x0b], [0x0a, 0x80], [0x1b, 0x1c]] {
      #expect(WireFieldLimit.count(limits, in: ByteBuffer(bytes: bytes)) == .unreadable, "\(bytes)")
    }
    // Field 3 as an empty group, then 10,001 empty events: the decoder takes them all.
    let grouped: [UInt8] = [0x1b, 0x1c] + Array(repeating: [0x0a, 0x00], count: 10_001).joined()
    #expect(try Tally_V1_RecordEventsRequest(serializedBytes: grouped).events.count == 10_001)
    let error = #expect(throws: RPCError.self) {
      _ = try decodeRequest(
        Tally_V1_RecordEventsRequest.self, from: ByteBuffer(bytes: grouped),
        limits: wireFieldLimits(of: Tally_V1_RecordEventsRequest.self))
    }
    #expect(error?.code == .invalidArgument)
    #expect(error?.message.contains("is not a valid tally.v1.RecordEventsRequest") == true)
  }

  /// Through the router: four megabytes of empty events are refused by their count, naming the
  /// field, without two million of them decoded first.
  @Test func theRouterRefusesAnOverlongListBeforeDecodingIt() throws {
    let payload = ByteBuffer(bytes: (0..<(4 << 20)).map { $0 % 2 == 0 ? 0x0a : 0x00 } as [UInt8])
    let error = #expect(throws: RPCError.self) {
      _ = try decodeRequest(
        Tally_V1_RecordEventsRequest.self, from: payload, limits: wireFieldLimits(of: Tally_V1_RecordEventsRequest.self)
      )
    }
    #expect(error?.code == .invalidArgument)
    #expect(error?.fieldViolations.map(\.field) == ["events"])
    #expect(error?.message.contains("must have at most 10000 entries, got 2097152") == true)
  }

  /// "é" as one scalar and as "e" with a combining accent are one `String` to Swift, so decoding
  /// keeps one entry of the two, silently: the scan finds them first and names both forms.
  @Test func keysThatAreOneTextInTwoFormsAreNamed() throws {
    let (composed, decomposed) = ("caf\u{E9}", "cafe\u{301}")
    // One event's wire form holding both keys: the decoder keeps one entry.
    let both = try Self.event(composed, "1") + Self.event(decomposed, "2")
    #expect(try Tally_V1_Event(serializedBytes: both).properties.count == 1)
    let bytes = try Self.field1(Self.event("plain", "0")) + Self.field1(both)
    let limits = Tally_V1_RecordEventsRequest.wireFieldLimits
    #expect(
      WireFieldLimit.count(limits, in: ByteBuffer(bytes: bytes))
        == .sameKey(WireMapKeyClash(field: "events[1].properties", first: composed, second: decomposed)))
    let error = #expect(throws: RPCError.self) {
      _ = try decodeRequest(
        Tally_V1_RecordEventsRequest.self, from: ByteBuffer(bytes: bytes), limits: limits, streamMessage: 4)
    }
    #expect(error?.code == .invalidArgument)
    #expect(error?.fieldViolations.map(\.field) == ["events[1].properties"])
    #expect(
      error?.message.contains(
        "twice, in two Unicode forms (U+0063 U+0061 U+0066 U+00E9 and U+0063 U+0061 U+0066 U+0065 U+0301)") == true)
    #expect(error?.message.hasSuffix("in message 4") == true)
    // The same key in the same bytes twice is protobuf's merge (the last value wins), and keys
    // that are different text stay apart.
    let sameBytes = try Self.field1(Self.event(composed, "1") + Self.event(composed, "2"))
    #expect(WireFieldLimit.count(limits, in: ByteBuffer(bytes: sameBytes)) == .withinLimits)
    let twoKeys = try Self.field1(Self.event(composed, "1") + Self.event("caf\u{EA}", "2"))
    #expect(WireFieldLimit.count(limits, in: ByteBuffer(bytes: twoKeys)) == .withinLimits)
    // Each event's map is its own: the two forms in two events are two maps.
    let apart = try Self.field1(Self.event(composed, "1")) + Self.field1(Self.event(decomposed, "2"))
    #expect(WireFieldLimit.count(limits, in: ByteBuffer(bytes: apart)) == .withinLimits)
  }

  /// An ASCII key can be one text with a key past ASCII (U+212A KELVIN SIGN is "K"), and a singular
  /// message sent in two parts merges its maps: both are caught.
  @Test func anASCIIKeyAndAMessageInPartsAreCheckedToo() throws {
    var first = Tally_V1_UpsertAccountRequest()
    first.account.attributes["K"] = "1"
    var second = Tally_V1_UpsertAccountRequest()
    second.account.attributes["\u{212A}"] = "2"
    let bytes: [UInt8] = try first.serializedBytes() + second.serializedBytes()
    #expect(try Tally_V1_UpsertAccountRequest(serializedBytes: bytes).account.attributes.count == 1)
    #expect(
      WireFieldLimit.count(Tally_V1_UpsertAccountRequest.wireFieldLimits, in: ByteBuffer(bytes: bytes))
        == .sameKey(WireMapKeyClash(field: "account.attributes", first: "K", second: "\u{212A}")))
    var settings = Tally_V1_UpdateKpiSettingsRequest()
    settings.settings.roleMultipliers["K"] = 1
    var other = Tally_V1_UpdateKpiSettingsRequest()
    other.settings.roleMultipliers["\u{212A}"] = 2
    let merged: [UInt8] = try settings.serializedBytes() + other.serializedBytes()
    #expect(
      WireFieldLimit.count(Tally_V1_UpdateKpiSettingsRequest.wireFieldLimits, in: ByteBuffer(bytes: merged))
        == .sameKey(WireMapKeyClash(field: "settings.role_multipliers", first: "K", second: "\u{212A}")))
  }
}
