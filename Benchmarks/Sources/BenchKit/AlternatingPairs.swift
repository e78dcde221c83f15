/// A scenario and its baseline run by turns (scenario, baseline, scenario, baseline…): on a machine
/// whose speed drifts over minutes, one pair's ratio says more about the drift than about Tally, so
/// the table shows the pair whose ratio is the median, and every ratio beside it.
public struct AlternatingPairs: Sendable, Equatable {
  /// Scenario ÷ baseline of each pair, in the order they ran.
  public let ratios: [Double]
  /// The pair whose ratio is the median; with an even count, the lower of the middle two.
  public let medianIndex: Int

  /// `nil` without pairs or where a baseline rate is not positive (a run that did nothing).
  public init?(scenario: [Double], baseline: [Double]) {
    guard !scenario.isEmpty, scenario.count == baseline.count, baseline.allSatisfy({ $0 > 0 }) else { return nil }
    let ratios = zip(scenario, baseline).map { $0 / $1 }
    let byRatio = ratios.indices.sorted { (ratios[$0], $0) < (ratios[$1], $1) }
    self.ratios = ratios
    self.medianIndex = byRatio[(ratios.count - 1) / 2]
  }

  public var median: Double { self.ratios[self.medianIndex] }
}
