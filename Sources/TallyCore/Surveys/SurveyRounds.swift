public import Foundation
import TallyProto
public import TallyStore
import TallyWire

/// Rounds: opened and closed by hand, or on a pulse survey's cadence (`PulseRoundScheduler`).
/// A round is open while opens_at ≤ now < closes_at; at most one round of a survey is open at a time.
extension SurveyService {
  static let roundColumns = """
    r.round_id::text AS round_id, r.survey_id::text AS survey_id, r.number, \(Micros.column("r.opens_at")),
    \(Micros.column("r.closes_at")), r.period_start IS NOT NULL AS scheduled,
    (SELECT count(*) FROM survey_invitations i WHERE i.tenant_id = r.tenant_id AND i.round_id = r.round_id)
      AS invitations,
    (SELECT count(*) FROM survey_responses p
     WHERE p.tenant_id = r.tenant_id AND p.survey_id = r.survey_id AND p.round_id = r.round_id) AS responses,
    (SELECT CASE WHEN s.anonymous THEN s.anonymity_threshold END FROM surveys s
     WHERE s.tenant_id = r.tenant_id AND s.survey_id = r.survey_id) AS anonymity_threshold
    """

  /// SQL true for a round open at the bigint micros in `parameter`.
  static func roundOpenSQL(_ parameter: String, alias: String = "r") -> String {
    "(\(alias).opens_at <= \(Micros.sql(parameter)) AND (\(alias).closes_at IS NULL OR \(alias).closes_at > \(Micros.sql(parameter))))"
  }

  /// Closes at the bigint micros $2 the open rounds whose `column` is $1 (a round, or every round
  /// of a survey); a round closes at least a microsecond after it opened.
  static func closeRoundsSQL(where column: String) -> String {
    """
    UPDATE survey_rounds SET closes_at = greatest(\(Micros.sql("$2")), opens_at + interval '1 microsecond')
    WHERE \(column) = $1::uuid AND (closes_at IS NULL OR closes_at > \(Micros.sql("$2")))
    """
  }

  @Sendable func openRound(_ request: Tally_V1_OpenRoundRequest, _ context: RequestContext) async throws
    -> Tally_V1_Round
  {
    var checker = FieldChecker()
    let collectedID = try Validation.collecting(&checker) { try Validation.uuid(request.surveyID, field: "survey_id") }
    let now = self.nowMicros
    let closesAt = checker.timestamp(request.hasClosesAt ? request.closesAt : nil, "closes_at")
    if let closesAt, closesAt <= now { checker.add("closes_at", "must be in the future") }
    let id = try checker.checked(collectedID)
    return try await self.database.transaction(context) { connection in
      let survey = try Self.lock(id, connection)
      guard !survey.archived else {
        throw RPCError(code: .failedPrecondition, message: "survey \(id) is archived: it takes no new rounds")
      }
      if let open = try Self.openRoundNumber(id, now, connection) {
        throw RPCError(
          code: .failedPrecondition, message: "round \(open) of survey \(id) is still open; close it first")
      }
      // A pulse round opened by hand inside a period's window is that period's round (unless the
      // period had one already), so the scheduler does not open a second one after it closes.
      let nowDate = Date(timeIntervalSince1970: Double(now) / 1_000_000)
      let period = try PulseRoundScheduler.cadence(of: id, connection)?.roundOpen(at: nowDate)?.period.description
      let roundID = try connection.query(
        """
        INSERT INTO survey_rounds (tenant_id, survey_id, number, opens_at, closes_at, period_start)
        SELECT \(currentTenantSQL), $1::uuid, coalesce(max(number), 0) + 1, \(Micros.sql("$2")), \(Micros.sql("$3")),
          CASE WHEN bool_or(period_start = $4::date) IS NOT TRUE THEN $4::date END
        FROM survey_rounds WHERE survey_id = $1::uuid
        RETURNING round_id::text AS id
        """, [id, now, closesAt, period]
      ).rows[0].require(String.self, "id")
      return try self.round(roundID, connection)
    }
  }

  @Sendable func closeRound(_ request: Tally_V1_CloseRoundRequest, _ context: RequestContext) async throws
    -> Tally_V1_Round
  {
    let id = try Validation.uuid(request.roundID, field: "round_id")
    let now = self.nowMicros
    return try await self.database.transaction(context) { connection in
      let surveyID = try self.round(id, connection).surveyID
      _ = try Self.lock(surveyID, connection)
      try Self.lockRounds(of: surveyID, connection)
      try connection.query(Self.closeRoundsSQL(where: "round_id"), [id, now])
      try Self.openClosedRoundsLeavingUnopened(survey: surveyID, now: now, keys: self.sealingKeys, connection)
      return try self.round(id, connection)
    }
  }

  @Sendable func listRounds(_ request: Tally_V1_ListRoundsRequest, _ context: RequestContext) async throws
    -> Tally_V1_ListRoundsResponse
  {
    let id = try Validation.uuid(request.surveyID, field: "survey_id")
    let now = self.nowMicros
    let rows = try await self.database.transaction(context) { connection in
      _ = try self.survey(id, connection)
      return try connection.query(
        "SELECT \(Self.roundColumns) FROM survey_rounds r WHERE r.survey_id = $1::uuid ORDER BY r.number", [id]
      ).rows
    }
    var response = Tally_V1_ListRoundsResponse()
    response.rounds = try rows.map { try Self.roundMessage($0, now: now) }
    return response
  }

  func round(_ id: String, _ connection: PostgresConnection) throws -> Tally_V1_Round {
    let rows = try connection.query(
      "SELECT \(Self.roundColumns) FROM survey_rounds r WHERE r.round_id = $1::uuid", [id]
    )
    .rows
    guard let row = rows.first else { throw RPCError(code: .notFound, message: "no round \(id)") }
    return try Self.roundMessage(row, now: self.nowMicros)
  }

  /// Locks the survey's rounds in the order the openers of sealed answers lock them (by id), before
  /// one of them is closed: a close that locked its round first could wait for an opener that
  /// waits for it.
  static func lockRounds(of surveyID: String, _ connection: PostgresConnection) throws {
    try connection.query(
      "SELECT 1 FROM survey_rounds WHERE survey_id = $1::uuid ORDER BY round_id FOR NO KEY UPDATE", [surveyID])
  }

  /// The number of the survey's round open at `now`, if any.
  static func openRoundNumber(_ surveyID: String, _ now: Int64, _ connection: PostgresConnection) throws -> Int? {
    try connection.query(
      "SELECT number FROM survey_rounds r WHERE r.survey_id = $1::uuid AND \(Self.roundOpenSQL("$2")) LIMIT 1",
      [surveyID, now]
    ).rows.first?.require(Int.self, "number")
  }

  static func roundMessage(_ row: PostgresRow, now: Int64) throws -> Tally_V1_Round {
    var round = Tally_V1_Round()
    round.id = try row.require(String.self, "round_id")
    round.surveyID = try row.require(String.self, "survey_id")
    round.number = UInt32(try row.require(Int.self, "number"))
    let opens = try row.require(Int64.self, "opens_at")
    round.opensAt = Micros.timestamp(opens)
    let closes = try row.decode(Int64.self, "closes_at")
    if let closes { round.closesAt = Micros.timestamp(closes) }
    round.status = opens <= now && (closes.map { now < $0 } ?? true) ? "open" : "closed"
    round.scheduled = try row.require(Bool.self, "scheduled")
    round.invitations = UInt64(try row.require(Int64.self, "invitations"))
    let responses = try row.require(Int64.self, "responses")
    // An anonymous round's count shows only where its results do: closed, at the threshold.
    if let threshold = try row.decode(Int.self, "anonymity_threshold"),
      closes.map({ $0 > now }) ?? true || responses < Int64(threshold)
    {
      round.responsesWithheld = true
    } else {
      round.responses = UInt64(responses)
    }
    return round
  }
}

/// Opens the rounds of pulse surveys on their cadence. Safe when several tallyd run it at once:
/// each survey is handled under its row lock, and a period has at most one round (a unique key).
public struct PulseRoundScheduler: Sendable {
  let pool: PostgresPool

  public init(pool: PostgresPool) { self.pool = pool }

  /// Opens every round due at `now` that is not open yet; returns how many it opened. Nothing
  /// opens while another round of the survey is open, nor in a period that already had a round.
  /// A survey whose transaction fails is passed over, not those after it (`TenantFailures`).
  @discardableResult
  public func openDueRounds(now: Date) async throws -> Int {
    let surveys = try await self.pool.withTransaction(tenant: nil) { connection in
      try connection.query(
        "SELECT tenant_id::text AS tenant, survey_id::text AS survey FROM pulse_surveys_with_cadence()"
      )
      .rows.map { (try $0.require(String.self, "tenant"), try $0.require(String.self, "survey")) }
    }
    var opened = 0
    var failures = TenantFailures()
    for (tenant, survey) in surveys {
      do {
        opened += try await self.pool.withTransaction(tenant: tenant) { connection in
          try Self.openDueRound(survey: survey, now: now, connection) ? 1 : 0
        }
      } catch {
        failures.add(error, tenant: tenant)
      }
    }
    try failures.throwIfAny()
    return opened
  }

  /// The cadence of an active pulse survey, locking its row; nil for other surveys.
  static func cadence(of survey: String, _ connection: PostgresConnection) throws -> PulseCadence? {
    let rows = try connection.query(
      """
      SELECT cadence, cadence_open_day, cadence_open_days, cadence_anchor::text AS anchor FROM surveys
      WHERE survey_id = $1::uuid AND cadence IS NOT NULL AND archived_at IS NULL FOR UPDATE
      """, [survey]
    ).rows
    guard let row = rows.first,
      let period = PulseCadence.Period(rawValue: try row.require(String.self, "cadence")),
      let anchor = CivilDay(isoDate: try row.require(String.self, "anchor"))
    else { return nil }
    return PulseCadence(
      period: period, openDay: try row.require(Int.self, "cadence_open_day"),
      openDays: try row.require(Int.self, "cadence_open_days"), anchor: anchor)
  }

  static func openDueRound(survey: String, now: Date, _ connection: PostgresConnection) throws -> Bool {
    guard let due = try Self.cadence(of: survey, connection)?.roundOpen(at: now) else { return false }
    let nowMicros = SurveyService.microsSinceEpoch(now)
    if try SurveyService.openRoundNumber(survey, nowMicros, connection) != nil { return false }
    let inserted = try connection.query(
      """
      INSERT INTO survey_rounds (tenant_id, survey_id, number, opens_at, closes_at, period_start)
      SELECT \(currentTenantSQL), $1::uuid, coalesce(max(number), 0) + 1, \(Micros.sql("$2")), \(Micros.sql("$3")),
        $4::date
      FROM survey_rounds WHERE survey_id = $1::uuid
      ON CONFLICT (tenant_id, survey_id, period_start) DO NOTHING
      """,
      [
        survey, Int64(due.opensAt.timeIntervalSince1970) * 1_000_000,
        Int64(due.closesAt.timeIntervalSince1970) * 1_000_000, due.period.description,
      ]
    ).affectedRows
    return inserted == 1
  }
}
