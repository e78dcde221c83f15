import TallyProto
import TallyStore
import TallyWire

/// The past customer tenures an UpsertAccount replaces (`replace_past_tenures`): checked, then
/// sent as two bigint arrays of microseconds that the upsert turns into a tstzmultirange.
struct PastTenures: Sendable {
  /// More would be a data error, not a customer's history.
  static let maxCount = 100

  var since: [Int64] = []
  var churned: [Int64] = []

  /// The account's tenures, each a since before its churned_at, oldest first without overlap, all
  /// ended by the current `customer_since` (when there is one); violations name `prefix`past_tenures[i],
  /// and those past the cap are counted in `omitted`.
  static func validate(_ account: Tally_V1_Account, prefix: String)
    -> (Self, violations: [RPCError.FieldViolation], omitted: Int)
  {
    var checker = FieldChecker(prefix: prefix)
    var tenures = Self()
    guard account.pastTenures.count <= Self.maxCount else {
      checker.add("past_tenures", "at most \(Self.maxCount) tenures; got \(account.pastTenures.count)")
      return (tenures, checker.violations, checker.omitted)
    }
    let current = account.hasCustomerSince ? micros(account.customerSince) : nil
    for (index, tenure) in account.pastTenures.enumerated() {
      let field = "past_tenures[\(index)]"
      let since = checker.timestamp(tenure.hasSince ? tenure.since : nil, field + ".since", required: true)
      let churned = checker.timestamp(
        tenure.hasChurnedAt ? tenure.churnedAt : nil, field + ".churned_at", required: true)
      guard let since, let churned else { continue }
      if churned <= since {
        checker.add(field + ".churned_at", "must be after since")
      } else if let previous = tenures.churned.last, since < previous {
        checker.add(
          field + ".since", "must not be before past_tenures[\(index - 1)].churned_at: oldest first, no overlap")
      } else if let current, churned > current {
        checker.add(field + ".churned_at", "must not be after customer_since: the current tenure comes last")
      }
      tenures.since.append(since)
      tenures.churned.append(churned)
    }
    return (tenures, checker.violations, checker.omitted)
  }

  /// SQL of the tstzmultirange of parameters `since` and `churned` (bigint[]); NULL when empty.
  static func sql(since: String, churned: String) -> String {
    """
    (SELECT range_agg(tstzrange(\(Micros.sql("t.since")), \(Micros.sql("t.churned")), '(]'))
      FROM unnest(\(since)::bigint[], \(churned)::bigint[]) AS t(since, churned))
    """
  }

  /// The two arrays as bigint[] literals.
  var parameters: [String] {
    [PostgresArray.literal(self.since.map(String.init)), PostgresArray.literal(self.churned.map(String.init))]
  }
}
