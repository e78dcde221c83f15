import Foundation

/// How a deal's amount is split over the campaigns that touched it (KPIS.md, attributed_revenue).
enum AttributionModel: String, CaseIterable, Sendable {
  case firstTouch = "first_touch"
  case lastTouch = "last_touch"
  case linear
  case timeDecay = "time_decay"

  /// A touch's weight halves every 7 days before the deal (time_decay).
  static let halfLifeDays = 7.0

  /// Touches of one campaign on one day: `age` days before the opportunity was created.
  struct Touch: Equatable, Sendable {
    var campaign: ExactID
    var age: Int
    var count: Int64
  }

  /// Each campaign's weight in a deal: every touch counts once (linear), only the earliest or the
  /// latest day's touches count (first and last touch; campaigns on that day share by their
  /// touches), or each touch counts 0.5^(age / 7) (time decay).
  func weights(_ touches: [Touch]) -> [ExactID: Double] {
    let counted: [Touch]
    switch self {
    case .firstTouch:
      let earliest = touches.map(\.age).max()
      counted = touches.filter { $0.age == earliest }
    case .lastTouch:
      let latest = touches.map(\.age).min()
      counted = touches.filter { $0.age == latest }
    case .linear, .timeDecay:
      counted = touches
    }
    var weights: [ExactID: Double] = [:]
    for touch in counted where touch.count > 0 {
      let decay = self == .timeDecay ? pow(0.5, Double(touch.age) / Self.halfLifeDays) : 1
      weights[touch.campaign, default: 0] += Double(touch.count) * decay
    }
    return weights
  }

  /// `amount` split in proportion to `weights`, in whole minor units that add up to it exactly:
  /// each share rounded down, then the units left over to the largest remainders (ties by campaign id).
  static func split(_ amount: Int64, _ weights: [ExactID: Double]) -> [ExactID: Int64] {
    let total = weights.values.reduce(0, +)
    guard total > 0, amount > 0 else { return [:] }
    var credits: [ExactID: Int64] = [:]
    var remainders: [(campaign: ExactID, fraction: Double)] = []
    for (campaign, weight) in weights {
      let share = Double(amount) * (weight / total)
      let whole = min(Int64(share.rounded(.down)), amount)
      credits[campaign] = whole
      remainders.append((campaign, share - Double(whole)))
    }
    remainders.sort { $0.fraction != $1.fraction ? $0.fraction > $1.fraction : $0.campaign < $1.campaign }
    var left = amount - credits.values.reduce(0, +)
    // Rounding in doubles can leave the floors a unit over the amount as well as under it.
    while left > 0 {
      for (campaign, _) in remainders where left > 0 {
        credits[campaign, default: 0] += 1
        left -= 1
      }
    }
    while left < 0 {
      for (campaign, _) in remainders.reversed() where left < 0 && credits[campaign, default: 0] > 0 {
        credits[campaign, default: 0] -= 1
        left += 1
      }
    }
    return credits
  }
}
