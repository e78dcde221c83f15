import TallyProto
import TallyStore
import TallyWire

/// GetRepActivity: activities_per_rep_per_day and meaningful_conversations per rep. The rollups
/// do not keep reps, so this reads the raw events.
enum RepActivity {
  static let types = KpiFormula.repActivityTypes + ["conversation", "meeting_scheduled"]

  /// KPI parameters with one period.
  static let sql = """
    WITH \(KpiSQL.periods)
    SELECT e.rep_id,
      count(*) FILTER (WHERE e.type = 'call_dialed') AS dials,
      count(*) FILTER (WHERE e.type = 'sales_email') AS sales_emails,
      count(*) FILTER (WHERE e.type = 'task_completed') AS tasks,
      count(*) FILTER (WHERE e.type = 'conversation') AS conversations,
      count(*) FILTER (WHERE e.type = 'meeting_scheduled') AS meetings,
      count(DISTINCT e.account_id) AS accounts
    FROM periods p JOIN events e ON \(KpiSQL.eventInPeriod("e")) AND e.rep_id IS NOT NULL
      AND e.type IN \(KpiSQL.list(Self.types)) AND \(KpiSQL.rowFilter("e"))
    GROUP BY e.rep_id
    """

  static func reps(_ request: Tally_V1_GetRepActivityRequest, today: CivilDay, _ connection: PostgresConnection) throws
    -> Tally_V1_GetRepActivityResponse
  {
    let (period, filter) = try KpiEngine.singlePeriod(request.from, request.to, request.filter)
    let parameters = KpiEngine.parameters([period], filter)
    var response = Tally_V1_GetRepActivityResponse()
    response.from = period.from.description
    response.to = period.to.description
    // Day 0, 1970-01-01, was a Thursday: (day + 3) % 7 counts from Monday. Only days begun count:
    // the days of a period not yet over had no activity to divide.
    let end = min(period.to.dayNumber, today.dayNumber + 1)
    let workingDays = (period.from.dayNumber..<max(end, period.from.dayNumber)).filter { ($0 + 3) % 7 < 5 }.count
    response.workingDays = UInt32(workingDays)
    response.reps = Array(
      Self.ranked(
        try connection.query(Self.sql, parameters).rows.map { row in
          var rep = Tally_V1_RepActivity()
          rep.repID = try row.require(String.self, "rep_id")
          rep.dials = UInt64(try row.require(Int.self, "dials"))
          rep.salesEmails = UInt64(try row.require(Int.self, "sales_emails"))
          rep.tasks = UInt64(try row.require(Int.self, "tasks"))
          rep.conversations = UInt64(try row.require(Int.self, "conversations"))
          rep.meetings = UInt64(try row.require(Int.self, "meetings"))
          rep.accounts = UInt64(try row.require(Int.self, "accounts"))
          if workingDays > 0 {
            rep.activitiesPerDay = Double(rep.dials + rep.salesEmails + rep.tasks) / Double(workingDays)
          }
          return rep
        }
      ).prefix(KpiEngine.maxListed))
    return response
  }

  /// Most activities first, then rep id by bytes, whatever order the database grouped them in.
  static func ranked(_ reps: [Tally_V1_RepActivity]) -> [Tally_V1_RepActivity] {
    reps.sorted {
      ($0.dials + $0.salesEmails + $0.tasks, ExactID($1.repID)) > (
        $1.dials + $1.salesEmails + $1.tasks, ExactID($0.repID)
      )
    }
  }
}
