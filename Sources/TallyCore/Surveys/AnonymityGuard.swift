/// Where a respondent belongs: the segment attributes of their invitation.
public struct SegmentKey: Sendable, Hashable, Comparable {
  public var department: String?
  public var team: String?
  public var location: String?
  public var tier: Int?

  public init(department: String? = nil, team: String? = nil, location: String? = nil, tier: Int? = nil) {
    self.department = department
    self.team = team
    self.location = location
    self.tier = tier
  }

  public static func < (lhs: SegmentKey, rhs: SegmentKey) -> Bool {
    (lhs.department ?? "", lhs.team ?? "", lhs.location ?? "", lhs.tier ?? -1)
      < (rhs.department ?? "", rhs.team ?? "", rhs.location ?? "", rhs.tier ?? -1)
  }
}

/// A segment filter: a key matches when it matches every non-empty set.
public struct SegmentFilterSpec: Sendable, Hashable {
  public var departments: Set<String> = []
  public var teams: Set<String> = []
  public var locations: Set<String> = []
  public var tiers: Set<Int> = []

  public init(departments: Set<String> = [], teams: Set<String> = [], locations: Set<String> = [], tiers: Set<Int> = [])
  {
    self.departments = departments
    self.teams = teams
    self.locations = locations
    self.tiers = tiers
  }

  public var isEmpty: Bool {
    self.departments.isEmpty && self.teams.isEmpty && self.locations.isEmpty && self.tiers.isEmpty
  }

  public func matches(_ key: SegmentKey) -> Bool {
    Self.matches(self.departments, key.department) && Self.matches(self.teams, key.team)
      && Self.matches(self.locations, key.location) && (self.tiers.isEmpty || key.tier.map(self.tiers.contains) == true)
  }

  private static func matches(_ allowed: Set<String>, _ value: String?) -> Bool {
    allowed.isEmpty || value.map(allowed.contains) == true
  }
}

/// Decides which filtered results of one round may be shown without revealing a group smaller
/// than the threshold, alone or as the difference of two answers.
///
/// The round's respondents are cut into blocks of at least `threshold`: each segment (all four
/// attributes) that reaches the threshold is a block; the smaller segments together form one more,
/// merged into the largest block when still too small. A filter is answered only when it takes
/// whole blocks, so any two answers differ by whole blocks: by nobody or by `threshold` or more.
public struct AnonymityGuard: Sendable {
  public enum Verdict: Sendable, Hashable {
    /// The segments the filter takes; the result is computed from exactly these.
    case shown(Set<SegmentKey>)
    case suppressed(String)
  }

  public let threshold: Int
  private let counts: [SegmentKey: UInt64]
  /// Each segment's block number.
  private let blockOf: [SegmentKey: Int]
  private let blockSizes: [Int]

  /// `counts`: the round's responses per segment; `threshold` 0 turns suppression off.
  public init(counts: [SegmentKey: UInt64], threshold: Int) {
    self.threshold = threshold
    let counts = counts.filter { $0.value > 0 }
    self.counts = counts
    let large = counts.filter { $0.value >= UInt64(max(threshold, 1)) }.keys.sorted()
    var blockOf: [SegmentKey: Int] = [:]
    for (index, key) in large.enumerated() { blockOf[key] = index }
    let small = counts.keys.filter { blockOf[$0] == nil }
    let smallTotal = small.reduce(UInt64(0)) { $0 + counts[$1, default: 0] }
    var restBlock = large.count
    if !small.isEmpty, smallTotal < UInt64(threshold),
      let largest = large.max(by: {
        (counts[$0, default: 0], $1) < (counts[$1, default: 0], $0)
      })
    {
      restBlock = blockOf[largest, default: restBlock]
    }
    for key in small { blockOf[key] = restBlock }
    var sizes = [Int](repeating: 0, count: large.count + 1)
    for (key, block) in blockOf { sizes[block] += Int(counts[key, default: 0]) }
    self.blockOf = blockOf
    self.blockSizes = sizes
  }

  public var responses: UInt64 { self.counts.values.reduce(0, +) }

  /// Whether rows of this segment may carry their attributes (in exports): only when the segment
  /// is a block on its own, so the attributes single out no group below the threshold.
  public func segmentShown(_ key: SegmentKey) -> Bool {
    guard self.threshold > 0 else { return true }
    guard let block = self.blockOf[key], let count = self.counts[key] else { return false }
    return self.blockSizes[block] == Int(count) && count >= UInt64(self.threshold)
  }

  public func verdict(for filter: SegmentFilterSpec) -> Verdict {
    let k = UInt64(self.threshold)
    if self.threshold > 0, self.responses < k {
      return .suppressed("fewer than \(self.threshold) responses (the anonymity threshold)")
    }
    let taken = Set(self.counts.keys.filter(filter.matches))
    guard self.threshold > 0, !filter.isEmpty else { return .shown(taken) }
    var takenPerBlock = [Int](repeating: 0, count: self.blockSizes.count)
    for key in taken { takenPerBlock[self.blockOf[key]!] += Int(self.counts[key, default: 0]) }
    for (block, size) in self.blockSizes.enumerated() where takenPerBlock[block] > 0 && takenPerBlock[block] < size {
      return .suppressed(
        "the filter would single out a group of fewer than \(self.threshold) respondents; widen it")
    }
    let total = taken.reduce(UInt64(0)) { $0 + self.counts[$1, default: 0] }
    guard total >= k else {
      return .suppressed("fewer than \(self.threshold) responses match the filter (the anonymity threshold)")
    }
    return .shown(taken)
  }
}
