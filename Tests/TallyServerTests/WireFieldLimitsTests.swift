import Foundation
import NIOCore
import SwiftProtobuf
import TallyProto
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
    }
  }

  private static func events(_ count: Int, properties: Int = 0, at index: Int = 0) -> Tally_V1_RecordEventsRequest {
    var request = Tally_V1_RecordEventsRequest()
    request.events = Array(repeating: Tally_V1_Event(), count: count)
    for key in 0..<properties { request.events[index].properties["p\(key)"] = "" }
    return request
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
}
