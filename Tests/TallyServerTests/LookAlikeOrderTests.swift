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

  @Test func attributionTiesRankByTheCampaignIDsBytes() {
    let campaigns = Self.ids.map { id in
      var campaign = Tally_V1_CampaignAttribution()
      campaign.campaignID = id
      campaign.attributedRevenue = 500
      return campaign
    }
    for input in [campaigns, campaigns.reversed()] {
      // Revenue descends; a tie ascends by the ids' bytes.
      #expect(Attribution.ranked(input).map { Array($0.campaignID.utf8) } == Self.byBytes)
    }
  }

  @Test func repActivityTiesRankByTheRepIDsBytes() {
    let reps = Self.ids.map { id in
      var rep = Tally_V1_RepActivity()
      rep.repID = id
      rep.dials = 3
      return rep
    }
    for input in [reps, reps.reversed()] {
      #expect(RepActivity.ranked(input).map { Array($0.repID.utf8) } == Self.byBytes)
    }
  }

  @Test func accountHealthTiesRankByTheAccountIDsBytes() {
    let accounts = Self.ids.map { id in
      var account = Tally_V1_AccountHealth()
      account.accountID = id
      account.health = 40
      return account
    }
    for input in [accounts, accounts.reversed()] {
      #expect(AccountHealthScore.ranked(input).map { Array($0.accountID.utf8) } == Self.byBytes)
    }
  }
}
