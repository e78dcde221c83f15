import SwiftProtobuf
import TallyProto
import Testing

@testable import TallyCore

/// Rankings whose ties fall back to an id: look-alike ids (one "é", and "e" + U+0301) are equal to
/// Swift's `<` and `==`, so a tie between them kept whatever order the rows or a dictionary gave.
/// Both orders of the same rows must rank alike, by the ids' bytes as PostgreSQL's C collation does.
@Suite struct LookAlikeOrderTests {
  static let ids = ["caf\u{e9}", "cafe\u{301}"]
  /// The byte order: "e" (0x65) before "é" (0xC3 0xA9).
  static let byBytes = [Array("cafe\u{301}".utf8), Array("caf\u{e9}".utf8)]

  /// Two tied rows made from the look-alike ids, ranked in both input orders.
  private func expectByteOrder<Row>(
    _ make: (String) -> Row, rank: ([Row]) -> [Row], id: (Row) -> String,
    sourceLocation: SourceLocation = #_sourceLocation
  ) {
    let rows = Self.ids.map(make)
    for input in [rows, rows.reversed()] {
      #expect(rank(input).map { Array(id($0).utf8) } == Self.byBytes, sourceLocation: sourceLocation)
    }
  }

  @Test func attributionTiesRankByTheCampaignIDsBytes() {
    // Revenue descends; a tie ascends by the ids' bytes.
    self.expectByteOrder(
      { id in .with { ($0.campaignID, $0.attributedRevenue) = (id, 500) } }, rank: Attribution.ranked, id: \.campaignID)
  }

  @Test func repActivityTiesRankByTheRepIDsBytes() {
    self.expectByteOrder({ id in .with { ($0.repID, $0.dials) = (id, 3) } }, rank: RepActivity.ranked, id: \.repID)
  }

  @Test func accountHealthTiesRankByTheAccountIDsBytes() {
    self.expectByteOrder(
      { id in .with { ($0.accountID, $0.health) = (id, 40) } }, rank: AccountHealthScore.ranked, id: \.accountID)
  }
}
