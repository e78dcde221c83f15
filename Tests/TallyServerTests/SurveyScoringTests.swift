import Foundation
import Testing

@testable import TallyCore

/// NPS arithmetic, the anonymity guard and the pulse cadence, against values worked out by hand.
@Suite struct NPSScoreTests {
  @Test func scoresAtTheEdgesAndInBetween() {
    #expect(NPSScore(answers: [0, 3, 6]).score == -100)
    #expect(NPSScore(answers: [9, 10, 10]).score == 100)
    #expect(NPSScore(answers: [10, 0]).score == 0)
    #expect(NPSScore(answers: [7, 8, 7, 8]).score == 0)
    #expect(NPSScore(answers: [7, 8, 7, 8]).marginOfError == 0)
    #expect(NPSScore(answers: [9]).score == 100)
    #expect(NPSScore(answers: [6]).score == -100)
    #expect(NPSScore(answers: []).score == nil)
    // 5 promoters, 3 passives, 2 detractors of 10: 100 × (5 − 2) / 10.
    let mixed = NPSScore(answers: [10, 9, 9, 10, 9, 8, 7, 7, 6, 0])
    #expect(mixed.score == 30)
    #expect((mixed.promoters, mixed.passives, mixed.detractors) == (5, 3, 2))
    #expect(mixed.distribution == [1, 0, 0, 0, 0, 0, 1, 2, 1, 3, 2])
  }

  @Test func marginOfErrorFollowsTheFormula() throws {
    // pP = 0.5, pD = 0.2, n = 10: 196 × √((0.7 − 0.09) / 10).
    let mixed = NPSScore(answers: [10, 9, 9, 10, 9, 8, 7, 7, 6, 0])
    let expected = 100 * 1.96 * ((0.5 + 0.2 - 0.3 * 0.3) / 10).squareRoot()
    #expect(abs(try #require(mixed.marginOfError) - expected) < 1e-9)
    // All promoters: no variance, no margin.
    #expect(NPSScore(answers: [9, 10]).marginOfError == 0)
    // One promoter and one detractor: √((1 − 0) / 2) × 196.
    #expect(abs(try #require(NPSScore(answers: [10, 0]).marginOfError) - 196 * (0.5).squareRoot()) < 1e-9)
  }

  @Test func changeIsComparedWithTheCombinedMargin() throws {
    let before = NPSScore(answers: Array(repeating: 10, count: 50) + Array(repeating: 0, count: 50))
    let after = NPSScore(answers: Array(repeating: 10, count: 90) + Array(repeating: 0, count: 10))
    let change = try #require(NPSChange(current: after, previous: before))
    #expect(abs(change.change - 80) < 1e-9)
    let combined = (pow(after.marginOfError!, 2) + pow(before.marginOfError!, 2)).squareRoot()
    #expect(abs(change.combinedMargin - combined) < 1e-9)
    #expect(change.beyondMargin)
    let small = try #require(NPSChange(current: NPSScore(answers: [10, 0, 9]), previous: NPSScore(answers: [10, 0])))
    #expect(!small.beyondMargin)
  }
}

@Suite struct AnonymityGuardTests {
  static func key(_ team: String) -> SegmentKey { SegmentKey(department: "eng", team: team) }
  static func everyoneAnswered(_ counts: [SegmentKey: UInt64]) -> AnonymityGuard {
    AnonymityGuard(invitations: counts, responses: counts, threshold: 5)
  }

  @Test func aRoundIsShownFromTheThresholdOn() {
    for (responses, shown) in [(4, false), (5, true), (6, true)] {
      let guardian = Self.everyoneAnswered([Self.key("a"): UInt64(responses)])
      if case .shown = guardian.verdict(for: SegmentFilterSpec()) {
        #expect(shown, "\(responses) responses")
      } else {
        #expect(!shown, "\(responses) responses")
      }
    }
  }

  @Test func aFilterIsShownFromTheThresholdOn() {
    for (teamSize, shown) in [(4, false), (5, true), (6, true)] {
      let counts: [SegmentKey: UInt64] = [Self.key("a"): UInt64(teamSize), Self.key("b"): 20]
      let verdict = Self.everyoneAnswered(counts).verdict(for: SegmentFilterSpec(teams: ["a"]))
      #expect((verdict == .shown([Self.key("a")])) == shown, "team of \(teamSize): \(verdict)")
    }
  }

  @Test func theDifferenceOfTwoFiltersNeverIsolatesASmallGroup() {
    // Teams b and c are large; team a has two people. "All" minus "b and c" would be team a.
    let counts: [SegmentKey: UInt64] = [Self.key("a"): 2, Self.key("b"): 10, Self.key("c"): 8]
    let guardian = Self.everyoneAnswered(counts)
    #expect(guardian.verdict(for: SegmentFilterSpec()) == .shown(Set(counts.keys)))
    guard case .suppressed = guardian.verdict(for: SegmentFilterSpec(teams: ["b", "c"])) else {
      Issue.record("all but team a must be suppressed")
      return
    }
    // Team a's two people are merged into the largest team, so b alone would split that block too.
    guard case .suppressed = guardian.verdict(for: SegmentFilterSpec(teams: ["b"])) else {
      Issue.record("team b alone carries team a's block")
      return
    }
    #expect(guardian.verdict(for: SegmentFilterSpec(teams: ["c"])) == .shown([Self.key("c")]))
    #expect(guardian.verdict(for: SegmentFilterSpec(teams: ["a", "b"])) == .shown([Self.key("a"), Self.key("b")]))
    #expect(!guardian.segmentShown(Self.key("a")))
    #expect(!guardian.segmentShown(Self.key("b")))
    #expect(guardian.segmentShown(Self.key("c")))
  }

  @Test func everyAnsweredPairOfFiltersDiffersByNobodyOrAtLeastTheThreshold() {
    // Exhaustive over every team subset of a random-sized round: the property the guard promises.
    var generator = SystemRandomNumberGenerator()
    for _ in 0..<50 {
      let teams = ["a", "b", "c", "d", "e"]
      var invitations: [SegmentKey: UInt64] = [:]
      var counts: [SegmentKey: UInt64] = [:]
      for team in teams {
        invitations[Self.key(team)] = UInt64.random(in: 0...12, using: &generator)
        counts[Self.key(team)] = UInt64.random(in: 0...invitations[Self.key(team)]!, using: &generator)
      }
      let guardian = AnonymityGuard(invitations: invitations, responses: counts, threshold: 5)
      var answered: [Set<SegmentKey>] = []
      for mask in 0..<(1 << teams.count) {
        let chosen = Set(teams.indices.filter { mask & (1 << $0) != 0 }.map { teams[$0] })
        let filter = chosen.count == teams.count ? SegmentFilterSpec() : SegmentFilterSpec(teams: Array(chosen))
        if case .shown(let segments) = guardian.verdict(for: filter) { answered.append(segments) }
      }
      for first in answered {
        for second in answered {
          let difference = first.subtracting(second).reduce(UInt64(0)) { $0 + counts[$1, default: 0] }
          #expect(difference == 0 || difference >= 5, "\(counts): \(first) − \(second) = \(difference)")
        }
      }
    }
  }

  @Test func whetherAOnePersonTeamAnsweredChangesNoVerdict() {
    // Team a has one person, b and c are large. Whether a answered or not, "b" alone stays
    // suppressed: a's invitation is part of b's unit, so b cannot be looked at without it.
    let invitations: [SegmentKey: UInt64] = [Self.key("a"): 1, Self.key("b"): 10, Self.key("c"): 8]
    for answered: UInt64 in [0, 1] {
      let responses = [Self.key("a"): answered, Self.key("b"): 9, Self.key("c"): 8]
      let guardian = AnonymityGuard(invitations: invitations, responses: responses, threshold: 5)
      guard case .suppressed = guardian.verdict(for: SegmentFilterSpec(teams: ["b"])) else {
        Issue.record("team b alone shown when a answered \(answered) times")
        continue
      }
      #expect(guardian.verdict(for: SegmentFilterSpec(teams: ["c"])) == .shown([Self.key("c")]))
      guard case .shown = guardian.verdict(for: SegmentFilterSpec(teams: ["a", "b"])) else {
        Issue.record("teams a and b together are a whole unit")
        continue
      }
    }
  }

  @Test func verdictsDependOnAUnitsResponsesNotOnWhichOfItsSegmentsAnswered() {
    // Two rounds with the same invitations and the same responses per unit, spread differently
    // over the unit's segments: every filter must get the same verdict and the same count.
    var generator = SystemRandomNumberGenerator()
    let teams = ["a", "b", "c", "d", "e", "f"]
    for _ in 0..<200 {
      var invitations: [SegmentKey: UInt64] = [:]
      for team in teams { invitations[Self.key(team)] = UInt64.random(in: 0...8, using: &generator) }
      let unitOf = AnonymityGuard.blocks(of: invitations.filter { $0.value > 0 }, threshold: 5)
      var first: [SegmentKey: UInt64] = [:]
      var second: [SegmentKey: UInt64] = [:]
      for unit in Set(unitOf.values) {
        let members = unitOf.filter { $0.value == unit }.keys.sorted()
        let capacity = members.reduce(UInt64(0)) { $0 + invitations[$1]! }
        let answered = UInt64.random(in: 0...capacity, using: &generator)
        for spread in [{ first[$0] = $1 }, { second[$0] = $1 }] as [(SegmentKey, UInt64) -> Void] {
          var left = answered
          for member in members.shuffled(using: &generator) {
            let here = min(left, invitations[member]!)
            spread(member, here)
            left -= here
          }
        }
      }
      let one = AnonymityGuard(invitations: invitations, responses: first, threshold: 5)
      let other = AnonymityGuard(invitations: invitations, responses: second, threshold: 5)
      let counted = { (verdict: AnonymityGuard.Verdict, responses: [SegmentKey: UInt64]) -> UInt64? in
        guard case .shown(let segments) = verdict else { return nil }
        return segments.reduce(0) { $0 + responses[$1, default: 0] }
      }
      let differing = (1..<(1 << teams.count)).map { mask in
        teams.indices.filter { mask & (1 << $0) != 0 }.map { teams[$0] }
      }.filter {
        let filter = SegmentFilterSpec(teams: $0)
        return counted(one.verdict(for: filter), first) != counted(other.verdict(for: filter), second)
      }
      #expect(differing.isEmpty, "\(invitations): \(first) against \(second), teams \(differing)")
    }
  }
}

@Suite struct PulseCadenceTests {
  static func at(_ iso: String) -> Date { ISO8601DateFormatter().date(from: iso)! }
  static let anchor = CivilDay(year: 2026, month: 1, day: 1)  // a Thursday

  @Test func civilDaysRoundTrip() {
    #expect(CivilDay(year: 1970, month: 1, day: 1).dayNumber == 0)
    #expect(CivilDay(year: 2026, month: 11, day: 23).isoWeekday == 1)
    #expect(CivilDay(year: 2024, month: 2, day: 29).description == "2024-02-29")
    #expect(CivilDay(Self.at("2026-03-01T23:59:59Z")).description == "2026-03-01")
  }

  @Test func weeklyRoundsOpenOnTheirWeekdayForTheirDays() throws {
    let cadence = PulseCadence(period: .weekly, openDay: 1, openDays: 5, anchor: Self.anchor)
    // 2026-01-05 is the first Monday on or after the anchor.
    #expect(cadence.roundOpen(at: Self.at("2026-01-04T12:00:00Z")) == nil)
    let first = try #require(cadence.roundOpen(at: Self.at("2026-01-05T00:00:00Z")))
    #expect(first.period.description == "2026-01-05")
    #expect(first.closesAt == Self.at("2026-01-10T00:00:00Z"))
    #expect(cadence.roundOpen(at: Self.at("2026-01-09T23:59:59Z"))?.period.description == "2026-01-05")
    #expect(cadence.roundOpen(at: Self.at("2026-01-10T00:00:00Z")) == nil)
    #expect(cadence.roundOpen(at: Self.at("2026-01-13T08:00:00Z"))?.period.description == "2026-01-12")
  }

  @Test func biweeklyMonthlyAndQuarterlyPeriods() {
    let biweekly = PulseCadence(period: .biweekly, openDay: 3, openDays: 7, anchor: Self.anchor)
    // First Wednesday on or after 2026-01-01 is 2026-01-07; then every 14 days.
    #expect(biweekly.periodStart(onOrBefore: CivilDay(year: 2026, month: 1, day: 20))?.description == "2026-01-07")
    #expect(biweekly.periodStart(onOrBefore: CivilDay(year: 2026, month: 1, day: 21))?.description == "2026-01-21")
    let monthly = PulseCadence(period: .monthly, openDay: 15, openDays: 7, anchor: Self.anchor)
    #expect(monthly.periodStart(onOrBefore: CivilDay(year: 2026, month: 1, day: 14)) == nil)
    #expect(monthly.periodStart(onOrBefore: CivilDay(year: 2026, month: 3, day: 14))?.description == "2026-02-15")
    #expect(monthly.roundOpen(at: Self.at("2026-03-22T00:00:00Z")) == nil)
    #expect(monthly.roundOpen(at: Self.at("2026-03-21T23:00:00Z"))?.period.description == "2026-03-15")
    let quarterly = PulseCadence(period: .quarterly, openDay: 2, openDays: 14, anchor: Self.anchor)
    #expect(quarterly.periodStart(onOrBefore: CivilDay(year: 2026, month: 6, day: 30))?.description == "2026-04-02")
    #expect(quarterly.periodStart(onOrBefore: CivilDay(year: 2027, month: 1, day: 1))?.description == "2026-10-02")
    #expect(quarterly.periodStart(onOrBefore: CivilDay(year: 2027, month: 1, day: 2))?.description == "2027-01-02")
  }
}
