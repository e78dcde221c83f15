import Foundation
import TallyClient
import TallyProto
import TallyWire
import Testing

/// GetCoverage and GetRepActivity against the fixture's contacts and rep events.
@Suite struct CoverageAndRepTests {
  @Test func contactDistributionMatchesTheFixture() async throws {
    try await DataTestContext.with { context in
      let fixture = KpiFixture(count: 300, seed: 5)
      try await fixture.load(context.clientA)
      var request = Tally_V1_GetCoverageRequest()
      request.from = "2026-01-01"
      request.to = "2026-04-01"
      var byCampaign = Tally_V1_KpiFilter()
      byCampaign.campaignIds = ["e1"]
      let allTargets = Set(KpiFixture.tiers.filter { $0.value > 0 }.keys)
      for (filter, targets) in [(Tally_V1_KpiFilter(), allTargets), (byCampaign, Set(["a1", "a2"]))] {
        request.filter = filter
        let response = try await context.readerA.unary(KpiMethods.getCoverage, request)
        #expect(response.buckets.map(\.contacts) == ["0", "1", "2", "3", "4", "5-9", "10+"])
        #expect(response.targetAccounts == UInt64(targets.count) && response.minContacts == 3)
        var expected = Array(repeating: (accounts: UInt64(0), dm: UInt64(0)), count: 7)
        var covered: UInt64 = 0
        for account in targets {
          let contacts = KpiFixture.contacts.filter { $0.value == account }.map(\.key)
          let dm = contacts.contains { KpiFixture.decisionMakers.contains($0) }
          let index = contacts.count < 5 ? contacts.count : contacts.count < 10 ? 5 : 6
          expected[index].accounts += 1
          if dm { expected[index].dm += 1 }
          if dm, contacts.count >= 3 { covered += 1 }
        }
        #expect(response.buckets.map(\.accounts) == expected.map(\.accounts), "\(targets)")
        #expect(response.buckets.map(\.withDecisionMaker) == expected.map(\.dm), "\(targets)")
        #expect(response.covered == covered)
        let contacts = KpiFixture.contacts.filter { targets.contains($0.value) }.map(\.key)
        let decisionMakers = UInt64(contacts.filter { KpiFixture.decisionMakers.contains($0) }.count)
        #expect(response.contactsByRole["decision_maker"] == decisionMakers)
        #expect(response.contactsByRole["champion"] == UInt64(contacts.count) - decisionMakers)
      }
      request.filter = .init()
      let other = try await context.clientB.unary(KpiMethods.getCoverage, request)
      #expect(other.targetAccounts == 0 && other.contactsByRole.isEmpty)
      request.filter.tiers = [9]
      await expectViolation("filter.tiers[0]") { try await context.readerA.unary(KpiMethods.getCoverage, request) }
    }
  }

  @Test func repActivityMatchesTheFixture() async throws {
    try await DataTestContext.with { context in
      let fixture = KpiFixture(count: 1_500, seed: 7)
      try await fixture.load(context.clientA)
      var request = Tally_V1_GetRepActivityRequest()
      request.from = "2026-01-01"
      request.to = "2026-04-01"
      let (from, to) = (KpiFixture.day(request.from), KpiFixture.day(request.to))
      let response = try await context.readerA.unary(KpiMethods.getRepActivity, request)
      // January to March 2026: 90 days, 64 of them Monday to Friday.
      #expect(response.workingDays == 64)
      let events = fixture.events.filter { $0.day >= from && $0.day < to && $0.rep != nil }
      #expect(Set(response.reps.map(\.repID)) == Set(events.compactMap(\.rep)) && response.reps.count == 3)
      for rep in response.reps {
        let mine = events.filter { $0.rep == rep.repID }
        #expect(rep.tasks == UInt64(mine.count) && rep.dials == 0 && rep.conversations == 0, "\(rep.repID)")
        #expect(rep.accounts == UInt64(Set(mine.compactMap(\.account)).count), "\(rep.repID)")
        #expect(rep.activitiesPerDay == Double(mine.count) / 64)
      }
      #expect(response.reps.map(\.tasks) == response.reps.map(\.tasks).sorted(by: >))
      #expect(try await context.clientB.unary(KpiMethods.getRepActivity, request).reps.isEmpty)
      // A weekend has no working day: activities per day are no data, not 0.
      var batch = Tally_V1_RecordEventsRequest()
      batch.events = [Fixture.event("weekend-task", type: "task_completed", at: "2026-01-03T10:00:00Z")]
      batch.events[0].repID = "weekend-rep"
      let weekendBatch = batch
      _ = try await context.clientA.clientStreaming(EventMethods.recordEvents) { writer in
        try await writer.send(weekendBatch)
      }
      (request.from, request.to) = ("2026-01-03", "2026-01-05")
      let weekend = try await context.readerA.unary(KpiMethods.getRepActivity, request)
      let rep = try #require(weekend.reps.first { $0.repID == "weekend-rep" })
      #expect(weekend.workingDays == 0 && rep.tasks == 1 && !rep.hasActivitiesPerDay)
      request.from = "2026-04-01"
      request.to = "2026-04-01"
      await expectViolation("to") { try await context.readerA.unary(KpiMethods.getRepActivity, request) }
    }
  }
}
