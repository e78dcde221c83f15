import TallyProto
import TallyStore
import TallyWire

/// GetCoverage: how many contacts the target accounts have, the distribution behind account_coverage.
enum Coverage {
  static let buckets = ["0", "1", "2", "3", "4", "5-9", "10+"]

  /// Per target account of the period (KPI parameters, one period): contacts and a decision maker.
  static let accountsSQL = """
    WITH \(KpiSQL.periods), \(KpiSQL.targets)
    SELECT t.account_id, count(c.contact_id) AS contacts, coalesce(bool_or(c.role = 'decision_maker'), false) AS dm
    FROM targets t LEFT JOIN contacts c ON c.account_id = t.account_id
    GROUP BY t.account_id
    """

  static let rolesSQL = """
    WITH \(KpiSQL.periods), \(KpiSQL.targets)
    SELECT c.role, count(*) AS contacts FROM targets t JOIN contacts c ON c.account_id = t.account_id GROUP BY c.role
    """

  static func coverage(
    _ request: Tally_V1_GetCoverageRequest, settings: KpiSettings, _ connection: PostgresConnection
  ) throws -> Tally_V1_GetCoverageResponse {
    let (period, filter) = try KpiEngine.singlePeriod(request.from, request.to, request.filter)
    let parameters = KpiEngine.parameters([period], filter)
    var response = Tally_V1_GetCoverageResponse()
    response.from = period.from.description
    response.to = period.to.description
    response.minContacts = UInt32(settings.coverageMinContacts)
    response.buckets = Self.buckets.map { name in
      var bucket = Tally_V1_ContactCountBucket()
      bucket.contacts = name
      return bucket
    }
    for row in try connection.query(Self.accountsSQL, parameters).rows {
      let contacts = try row.require(Int.self, "contacts")
      let decisionMaker = try row.require(Bool.self, "dm")
      let index = contacts < 5 ? contacts : contacts < 10 ? 5 : 6
      response.targetAccounts += 1
      response.buckets[index].accounts += 1
      if decisionMaker { response.buckets[index].withDecisionMaker += 1 }
      if decisionMaker, contacts >= settings.coverageMinContacts { response.covered += 1 }
    }
    for row in try connection.query(Self.rolesSQL, parameters).rows {
      response.contactsByRole[try row.require(String.self, "role")] = UInt64(try row.require(Int.self, "contacts"))
    }
    return response
  }
}
