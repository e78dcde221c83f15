import Foundation
import TallyClient
import TallyProto
import TallyWire
import Testing

@testable import TallyCore

/// Multi-line free text (survey comments, cost notes) takes the line breaks people type.
@Suite struct MultilineTextTests {
  static func violations(_ text: String, multiline: Bool) -> [String] {
    var checker = FieldChecker()
    checker.text(text, "note", max: 2_000, multiline: multiline)
    return checker.violations.map(\.description)
  }

  /// A browser's text box sends CRLF; a carriage return alone, or any other control, is refused.
  @Test func lineBreaksAreALineFeedOrACarriageReturnAndALineFeed() {
    for accepted in ["one\ntwo", "one\r\ntwo\r\n\r\nthree", "tab\there", "\r\n"] {
      #expect(Self.violations(accepted, multiline: true).isEmpty, "\(accepted.debugDescription)")
    }
    for refused in ["one\rtwo", "ends\r", "\r\r\n", "bell\u{7}", "nul\u{0}", "esc\u{1b}[2J"] {
      let found = Self.violations(refused, multiline: true)
      #expect(found.count == 1 && found[0].contains("line breaks"), "\(refused.debugDescription): \(found)")
    }
    #expect(Self.violations("one\r\ntwo", multiline: false) == ["must not contain control characters"])
    #expect(Self.violations("one\ntwo", multiline: false) == ["must not contain control characters"])
  }

  /// A cost note with CRLF line breaks is stored and listed as it was written.
  @Test func aNoteWithCRLFIsStoredAsWritten() async throws {
    try await DataTestContext.with { context in
      _ = try await context.clientA.unary(CampaignMethods.upsertCampaign, Fixture.upsert(Fixture.campaign("spring")))
      var request = Tally_V1_RecordCostRequest()
      (request.cost.key, request.cost.campaignID, request.cost.date) = ("inv-1", "spring", "2026-01-15")
      (request.cost.amount, request.cost.category, request.cost.note) = (100, "media", "line one\r\nline two")
      _ = try await context.clientA.unary(CampaignMethods.recordCost, request)
      let costs = try await context.readerA.unary(CampaignMethods.listCosts, Tally_V1_ListCostsRequest()).costs
      #expect(costs.map(\.note) == ["line one\r\nline two"])
      request.cost.key = "inv-2"
      request.cost.note = "line one\rline two"
      await expectViolation("cost.note") { try await context.clientA.unary(CampaignMethods.recordCost, request) }
    }
  }
}
