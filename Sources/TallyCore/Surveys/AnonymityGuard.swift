/// Where a respondent belongs: the segment attributes of their invitation. Compared, hashed and
/// ordered by the attributes' UTF-8 bytes, as PostgreSQL groups them: Swift's `==` would merge
/// look-alike spellings ("Kiosk" with a Kelvin sign), and the export then labelled the one row
/// spelled apart inside a merged segment that was shown.
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

  private var exact: (ExactID?, ExactID?, ExactID?, Int?) {
    (self.department.map { ExactID($0) }, self.team.map { ExactID($0) }, self.location.map { ExactID($0) }, self.tier)
  }

  public static func == (lhs: SegmentKey, rhs: SegmentKey) -> Bool { lhs.exact == rhs.exact }

  public func hash(into hasher: inout Hasher) {
    let (department, team, location, tier) = self.exact
    hasher.combine(department)
    hasher.combine(team)
    hasher.combine(location)
    hasher.combine(tier)
  }

  public static func < (lhs: SegmentKey, rhs: SegmentKey) -> Bool {
    func ordered(_ key: SegmentKey) -> (ExactID, ExactID, ExactID, Int) {
      (ExactID(key.department ?? ""), ExactID(key.team ?? ""), ExactID(key.location ?? ""), key.tier ?? -1)
    }
    return ordered(lhs) < ordered(rhs)
  }
}

/// A segment filter: a key matches when it matches every non-empty set. Values match by bytes,
/// as segments are told apart.
public struct SegmentFilterSpec: Sendable, Hashable {
  private let departments: Set<ExactID>
  private let teams: Set<ExactID>
  private let locations: Set<ExactID>
  private let tiers: Set<Int>

  public init(departments: [String] = [], teams: [String] = [], locations: [String] = [], tiers: Set<Int> = []) {
    self.departments = Set(departments.map { ExactID($0) })
    self.teams = Set(teams.map { ExactID($0) })
    self.locations = Set(locations.map { ExactID($0) })
    self.tiers = tiers
  }

  public var isEmpty: Bool {
    self.departments.isEmpty && self.teams.isEmpty && self.locations.isEmpty && self.tiers.isEmpty
  }

  public func matches(_ key: SegmentKey) -> Bool {
    Self.matches(self.departments, key.department) && Self.matches(self.teams, key.team)
      && Self.matches(self.locations, key.location) && (self.tiers.isEmpty || key.tier.map(self.tiers.contains) == true)
  }

  private static func matches(_ allowed: Set<ExactID>, _ value: String?) -> Bool {
    allowed.isEmpty || value.map { allowed.contains(ExactID($0)) } == true
  }
}

/// Decides which filtered results of one round may be shown without revealing a group smaller
/// than the threshold, alone or as the difference of two answers, nor who in a small segment took
/// part.
///
/// Blocks are cut in two steps. First the round's invitations: each segment (all four attributes)
/// with at least `threshold` invitations is a unit; the smaller segments together form one more,
/// merged into the largest unit when still too small. Units depend on who was invited, never on
/// who answered. Then the units' responses: each unit with at least `threshold` responses is a
/// block, and so is each unit nobody answered; the rest together form one more block, merged into
/// the largest when still too small. A filter is answered only when it takes whole blocks, so any
/// two answers differ by whole blocks (by nobody or by `threshold` or more respondents), and what
/// a verdict reveals about participation is a unit's count of responses, never a segment's.
public struct AnonymityGuard: Sendable {
  public enum Verdict: Sendable, Hashable {
    /// The segments the filter takes; the result is computed from exactly these.
    case shown(Set<SegmentKey>)
    case suppressed(String)
  }

  public let threshold: Int
  private let responses: [SegmentKey: UInt64]
  /// Each segment's block number, for every segment invited or answered.
  private let blockOf: [SegmentKey: Int]
  /// Per block: its respondents, and how many segments it holds.
  private let blockResponses: [UInt64]
  private let blockSegments: [Int]

  /// `invitations` and `responses`: the round's counts per segment; `threshold` 0 turns
  /// suppression off.
  public init(invitations: [SegmentKey: UInt64], responses: [SegmentKey: UInt64], threshold: Int) {
    self.threshold = threshold
    self.responses = responses.filter { $0.value > 0 }
    // A response's segment is its invitation's, so every answered segment was invited; the max
    // only keeps the units whole should the two counts ever disagree.
    let invited = invitations.merging(self.responses, uniquingKeysWith: max).filter { $0.value > 0 }
    let unitOf = Self.blocks(of: invited, threshold: UInt64(max(threshold, 1)))
    var unitResponses = [Int: UInt64]()
    for (key, unit) in unitOf { unitResponses[unit, default: 0] += self.responses[key, default: 0] }
    let blockOfUnit = Self.blocks(of: unitResponses, threshold: UInt64(max(threshold, 1)))
    var blockOf: [SegmentKey: Int] = [:]
    for (key, unit) in unitOf { blockOf[key] = blockOfUnit[unit] }
    let blockCount = (blockOf.values.max() ?? -1) + 1
    var blockResponses = [UInt64](repeating: 0, count: blockCount)
    var blockSegments = [Int](repeating: 0, count: blockCount)
    for (key, block) in blockOf {
      blockResponses[block] += self.responses[key, default: 0]
      blockSegments[block] += 1
    }
    self.blockOf = blockOf
    self.blockResponses = blockResponses
    self.blockSegments = blockSegments
  }

  /// Numbers groups into blocks: each group of at least `threshold` (or of none) is a block; the
  /// others together form one more, merged into the largest block when still below `threshold`.
  /// Deterministic: blocks are numbered in key order.
  static func blocks<Key: Hashable & Comparable>(of sizes: [Key: UInt64], threshold: UInt64) -> [Key: Int] {
    let alone = sizes.filter { $0.value >= threshold || $0.value == 0 }.keys.sorted()
    var blockOf: [Key: Int] = [:]
    for (index, key) in alone.enumerated() { blockOf[key] = index }
    let small = sizes.keys.filter { blockOf[$0] == nil }
    guard !small.isEmpty else { return blockOf }
    var restBlock = alone.count
    let smallTotal = small.reduce(UInt64(0)) { $0 + sizes[$1, default: 0] }
    if smallTotal < threshold,
      let largest = alone.max(by: { (sizes[$0, default: 0], $1) < (sizes[$1, default: 0], $0) }),
      sizes[largest, default: 0] > 0
    {
      restBlock = blockOf[largest, default: restBlock]
    }
    for key in small { blockOf[key] = restBlock }
    return blockOf
  }

  private var totalResponses: UInt64 { self.responses.values.reduce(0, +) }

  /// The block of a segment invited or answered in the round: a filter shows whole blocks.
  public func block(of key: SegmentKey) -> Int? { self.blockOf[key] }

  /// Whether rows of this segment may carry their attributes (in exports): only when the segment
  /// is a block on its own, so the attributes single out no group below the threshold.
  public func segmentShown(_ key: SegmentKey) -> Bool {
    guard self.threshold > 0 else { return true }
    guard let block = self.blockOf[key] else { return false }
    return self.blockSegments[block] == 1 && self.blockResponses[block] >= UInt64(self.threshold)
  }

  public func verdict(for filter: SegmentFilterSpec) -> Verdict {
    let k = UInt64(self.threshold)
    if self.threshold > 0, self.totalResponses < k {
      return .suppressed("fewer than \(self.threshold) responses (the anonymity threshold)")
    }
    let taken = Set(self.responses.keys.filter(filter.matches))
    guard self.threshold > 0, !filter.isEmpty else { return .shown(taken) }
    // Whole blocks by their segments, answered or not: a segment nobody in it answered counts too.
    var segmentsTaken = [Int](repeating: 0, count: self.blockSegments.count)
    for (key, block) in self.blockOf where filter.matches(key) { segmentsTaken[block] += 1 }
    for (block, count) in self.blockSegments.enumerated() where segmentsTaken[block] > 0 && segmentsTaken[block] < count
    {
      return .suppressed(
        "the filter would single out a group of fewer than \(self.threshold) people; widen it")
    }
    let total = taken.reduce(UInt64(0)) { $0 + self.responses[$1, default: 0] }
    guard total >= k else {
      return .suppressed("fewer than \(self.threshold) responses match the filter (the anonymity threshold)")
    }
    return .shown(taken)
  }
}
