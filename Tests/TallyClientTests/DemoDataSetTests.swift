import Foundation
import SwiftProtobuf
import TallyClient
import TallyProto
import Testing

@Suite struct DemoDataSetTests {
  static let today = ISO8601DateFormatter().date(from: "2026-11-30T12:00:00Z")!

  @Test func theSameSeedGivesTheSameRows() {
    let first = DemoDataSet(accountCount: 60, seed: 9, today: Self.today)
    let second = DemoDataSet(accountCount: 60, seed: 9, today: Self.today)
    #expect(first.accounts == second.accounts && first.events == second.events)
    #expect(first.opportunities == second.opportunities && first.costs == second.costs)
    #expect(DemoDataSet(accountCount: 60, seed: 10, today: Self.today).events != first.events)
  }

  @Test func rowsAreConsistentAndFunnelsNarrow() {
    let data = DemoDataSet(accountCount: 120, seed: 2026, today: Self.today)
    let accounts = Set(data.accounts.map(\.id))
    let contacts = Set(data.contacts.map(\.id))
    #expect(data.contacts.allSatisfy { accounts.contains($0.accountID) })
    #expect(
      data.events.allSatisfy {
        accounts.contains($0.accountID) && ($0.contactID.isEmpty || contacts.contains($0.contactID))
      })
    #expect(Set(data.events.map(\.key)).count == data.events.count, "event keys are unique")
    let latest = Self.today.timeIntervalSince1970 + 86_400
    #expect(data.events.allSatisfy { Double($0.occurredAt.seconds) < latest })
    let count = { (type: String) in data.events.filter { $0.type == type }.count }
    #expect(count("email_delivered") <= count("email_sent") && count("email_opened") <= count("email_delivered"))
    #expect(count("email_clicked") <= count("email_opened") && count("ad_click") < count("ad_impression") / 3)
    #expect(count("event_attended") <= count("event_registered") && count("meeting_held") <= count("meeting_scheduled"))
    #expect(data.accounts.filter { $0.tier == 1 }.count == 12 && data.opportunities.contains { $0.status == "won" })
    #expect(
      data.opportunities.allSatisfy {
        $0.status == "open" ? !$0.hasClosedAt : $0.closedAt.seconds >= $0.createdAt.seconds
      })
  }
}
