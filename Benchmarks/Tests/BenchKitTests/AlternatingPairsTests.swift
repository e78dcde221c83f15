import Testing

@testable import BenchKit

/// The pair the results table shows: the median of the ratios, not of either side's rates.
@Suite struct AlternatingPairsTests {
  @Test func theMedianRatioPicksItsPairNotTheMedianRates() throws {
    // Rates drift down run by run; the pair ratios are 0.5, 0.8 and 0.6.
    let pairs = try #require(AlternatingPairs(scenario: [50, 64, 30], baseline: [100, 80, 50]))
    #expect(pairs.ratios == [0.5, 0.8, 0.6])
    #expect(pairs.medianIndex == 2 && pairs.median == 0.6)
  }

  @Test func anEvenCountTakesTheLowerMiddleRatio() throws {
    let pairs = try #require(AlternatingPairs(scenario: [9, 6, 7, 8], baseline: [10, 10, 10, 10]))
    #expect(pairs.medianIndex == 2 && pairs.median == 0.7)
  }

  @Test func onePairIsItsOwnMedian() throws {
    let pairs = try #require(AlternatingPairs(scenario: [32_000], baseline: [64_000]))
    #expect(pairs.medianIndex == 0 && pairs.median == 0.5)
  }

  @Test func noPairsMismatchedCountsOrAnIdleBaselineGiveNothing() {
    #expect(AlternatingPairs(scenario: [], baseline: []) == nil)
    #expect(AlternatingPairs(scenario: [1, 2], baseline: [1]) == nil)
    #expect(AlternatingPairs(scenario: [1], baseline: [0]) == nil)
  }
}
