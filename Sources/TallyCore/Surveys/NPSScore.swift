import Foundation

/// The Net Promoter arithmetic of SURVEYS.md over a 0–10 answer distribution.
public struct NPSScore: Sendable, Hashable {
  /// Eleven counts: how many answered 0, 1, … 10.
  public let distribution: [UInt64]

  public init(distribution: [UInt64]) {
    precondition(distribution.count == 11, "a 0–10 distribution has eleven counts")
    self.distribution = distribution
  }

  public init(answers: [Int]) {
    var counts = [UInt64](repeating: 0, count: 11)
    for answer in answers { counts[answer] += 1 }
    self.init(distribution: counts)
  }

  public var responses: UInt64 { self.distribution.reduce(0, +) }
  public var promoters: UInt64 { self.distribution[9] + self.distribution[10] }
  public var passives: UInt64 { self.distribution[7] + self.distribution[8] }
  public var detractors: UInt64 { self.distribution[0...6].reduce(0, +) }

  public var promoterShare: Double { self.share(self.promoters) }
  public var passiveShare: Double { self.share(self.passives) }
  public var detractorShare: Double { self.share(self.detractors) }

  /// 100 × (promoters − detractors) / responses; nil without responses.
  public var score: Double? {
    guard self.responses > 0 else { return nil }
    return 100 * (Double(self.promoters) - Double(self.detractors)) / Double(self.responses)
  }

  /// The 95 % margin in score points: 100 × 1.96 × √((pP + pD − (pP − pD)²) / n).
  public var marginOfError: Double? {
    guard self.responses > 0 else { return nil }
    let pP = self.promoterShare
    let pD = self.detractorShare
    let variance = max(0, pP + pD - (pP - pD) * (pP - pD))
    return 100 * 1.96 * (variance / Double(self.responses)).squareRoot()
  }

  /// The sum of two distributions (rounds pooled together).
  public static func + (lhs: NPSScore, rhs: NPSScore) -> NPSScore {
    NPSScore(distribution: zip(lhs.distribution, rhs.distribution).map { $0 + $1 })
  }

  public static let empty = NPSScore(distribution: [UInt64](repeating: 0, count: 11))

  private func share(_ count: UInt64) -> Double {
    self.responses == 0 ? 0 : Double(count) / Double(self.responses)
  }
}

/// A score against the one before it, and whether the difference is larger than chance.
public struct NPSChange: Sendable, Hashable {
  public let change: Double
  /// √(moe² + previous moe²): the margin of the difference of two independent samples.
  public let combinedMargin: Double
  public var beyondMargin: Bool { abs(self.change) > self.combinedMargin }

  public init?(current: NPSScore, previous: NPSScore) {
    guard let now = current.score, let before = previous.score, let moe = current.marginOfError,
      let previousMoe = previous.marginOfError
    else { return nil }
    self.change = now - before
    self.combinedMargin = (moe * moe + previousMoe * previousMoe).squareRoot()
  }
}
