public import Foundation
public import TallyStore
public import TallyWire

/// Opens the sealed answers of closed rounds: every survey read that may show a closed round's
/// answers opens them first, in its transaction, and `SealedRoundOpener` does it for every tenant
/// once a minute, so that the survey KPIs (which never open a round) see a round soon after its
/// closing time passed.
extension SurveyService {
  /// A round whose sealed answers could not be opened (a key this server lacks, a changed row).
  public struct UnopenedRound: Sendable {
    public let roundID: String
    public let error: RPCError
  }

  /// SQL true for a round closed at the micros in $1 whose answers are not opened yet, of the
  /// survey in $2 (or of any when NULL).
  private static let dueRounds = """
    closes_at <= \(Micros.sql("$1")) AND NOT answers_opened AND ($2::uuid IS NULL OR survey_id = $2::uuid)
    """

  /// Opens the answers of the tenant's rounds closed at `now` (of one survey, or of all) and
  /// returns how many; a round that does not open fails the call, and nothing is opened.
  @discardableResult
  static func openClosedRounds(
    survey: String?, now: Int64, keys: AnswerSealingKeys, _ connection: PostgresConnection
  ) throws -> Int {
    try Self.open(survey: survey, round: nil, now: now, keys: keys, connection)
  }

  /// Opens what it can of the same, round by round: a round that does not open stays as it was
  /// (sealed, its results withheld) without holding the others back. For reads that show no
  /// answers, which must not fail for one bad round, and for the timer.
  @discardableResult
  static func openClosedRoundsLeavingUnopened(
    survey: String?, now: Int64, keys: AnswerSealingKeys, _ connection: PostgresConnection
  ) throws -> (answers: Int, unopened: [UnopenedRound]) {
    let due = try connection.query(
      """
      SELECT round_id::text AS round_id FROM survey_rounds WHERE \(Self.dueRounds) ORDER BY round_id
      """, [now, survey]
    ).rows.map { try $0.require(String.self, "round_id") }
    var (answers, unopened) = (0, [UnopenedRound]())
    for round in due {
      try connection.execute("SAVEPOINT opening_round")
      do {
        answers += try Self.open(survey: survey, round: round, now: now, keys: keys, connection)
      } catch let error as RPCError {
        try connection.execute("ROLLBACK TO SAVEPOINT opening_round")
        unopened.append(UnopenedRound(roundID: round, error: error))
      }
      try connection.execute("RELEASE SAVEPOINT opening_round")
    }
    return (answers, unopened)
  }

  /// Marks the due rounds opened, then moves their sealed answers into `survey_responses` in
  /// random order. Two statements, in this order: the first locks the rounds (by id, so that two
  /// openers never deadlock) and so waits for every claim that holds one (FOR SHARE) to commit;
  /// the second, with a snapshot of its own, sees their answers. A claim that comes later finds
  /// the round opened and is refused (`SurveyService.invitations`): no answer is ever sealed into a
  /// round already opened, to be opened later alone.
  private static func open(
    survey: String?, round: String?, now: Int64, keys: AnswerSealingKeys, _ connection: PostgresConnection
  ) throws -> Int {
    let rounds = try connection.query(
      """
      UPDATE survey_rounds SET answers_opened = true
      WHERE round_id IN (
        SELECT round_id FROM survey_rounds WHERE \(Self.dueRounds) AND ($3::uuid IS NULL OR round_id = $3::uuid)
        ORDER BY round_id FOR NO KEY UPDATE)
      RETURNING round_id::text AS round_id, survey_id::text AS survey_id
      """, [now, survey, round]
    ).rows
    guard !rounds.isEmpty else { return 0 }
    var surveys: [String: String] = [:]
    for row in rounds { surveys[try row.require(String.self, "round_id")] = try row.require(String.self, "survey_id") }
    let rows = try connection.query(
      """
      DELETE FROM survey_sealed_answers WHERE round_id = ANY($1::uuid[])
      RETURNING round_id::text AS round_id, key_id, translate(encode(sealed, 'base64'), E'\\n', '') AS sealed
      """, [PostgresArray.literal(Array(surveys.keys))]
    ).rows
    guard !rows.isEmpty else { return 0 }
    var columns = [[String?]](repeating: [], count: 8)
    for row in rows.shuffled() {
      let round = try row.require(String.self, "round_id")
      let response = try Self.open(
        try row.require(String.self, "sealed"), keyID: try row.require(String.self, "key_id"), round: round, keys: keys)
      let values: [String?] = [
        surveys[round], round, response.department, response.team, response.location, response.tier.map(String.init),
        response.score.map(String.init), response.answers,
      ]
      for (column, value) in values.enumerated() { columns[column].append(value) }
    }
    try connection.query(
      """
      INSERT INTO survey_responses (tenant_id, survey_id, round_id, department, team, location, tier, score, answers)
      SELECT \(currentTenantSQL), survey_id, round_id, department, team, location, tier, score, answers
      FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::smallint[], $7::smallint[],
        $8::jsonb[]) AS u(survey_id, round_id, department, team, location, tier, score, answers)
      """, columns.map { PostgresArray.literal($0) })
    return rows.count
  }

  private static func open(_ sealed: String, keyID: String, round: String, keys: AnswerSealingKeys) throws
    -> SealedResponse
  {
    guard let key = keys.key(keyID) else {
      throw RPCError(
        code: .failedPrecondition,
        message: "the answers of round \(round) were sealed with the answer-sealing key \(keyID), which this server"
          + " does not have (its keys: \(keys.fingerprints)): give tallyd that key, as answer_sealing_key_file or in"
          + " previous_answer_sealing_key_files (docs/SURVEYS.md)")
    }
    do {
      guard let bytes = Data(base64Encoded: sealed) else { throw AnswerSeal.SealError.doesNotOpen }
      return try AnswerSeal.open(bytes, round: round, key: key)
    } catch AnswerSeal.SealError.doesNotOpen {
      throw RPCError(
        code: .dataLoss, message: "a sealed answer of round \(round) does not open with its key: it was changed")
    } catch {
      // It opened, so its key and round are right, but its content is not what this build writes.
      throw RPCError(
        code: .internalError, message: "a sealed answer of round \(round) opened but cannot be read",
        cause: error)
    }
  }

  /// The survey's stored settings, its closed rounds' answers opened first.
  func openedSurvey(_ id: String, now: Int64, _ connection: PostgresConnection) throws -> StoredSurvey {
    try Self.openClosedRounds(survey: id, now: now, keys: self.sealingKeys, connection)
    return try Self.stored(id, connection)
  }
}

/// The tenants a pass over every tenant could not serve: the pass goes on with the others, then
/// reports them together.
struct TenantFailures: Error, CustomStringConvertible {
  private(set) var tenants: [String] = []
  private(set) var first: (any Error)?

  mutating func add(_ error: any Error, tenant: String) {
    if self.first == nil { self.first = error }
    self.tenants.append(tenant)
  }

  func throwIfAny() throws { if self.first != nil { throw self } }

  var description: String {
    "\(self.tenants.count) tenant(s) failed, the first (\(self.tenants.first ?? "")) with \(self.first.map { "\($0)" } ?? "")"
  }
}

/// Opens, once a minute, the sealed answers of every tenant's rounds whose closing time passed.
public struct SealedRoundOpener: Sendable {
  let pool: PostgresPool
  let keys: AnswerSealingKeys

  public init(pool: PostgresPool, keys: AnswerSealingKeys) {
    self.pool = pool
    self.keys = keys
  }

  /// Opens every round closed at `now` that still holds sealed answers, of every tenant; returns
  /// how many answers, and the rounds that did not open (by tenant), which stay sealed. A tenant
  /// whose transaction fails is passed over, not the tenants after it; the first such error is
  /// thrown once every tenant has had its turn.
  @discardableResult
  public func openClosedRounds(now: Date) async throws -> (
    answers: Int, unopened: [(tenant: String, round: SurveyService.UnopenedRound)]
  ) {
    let micros = SurveyService.microsSinceEpoch(now)
    let tenants = try await self.pool.withTransaction(tenant: nil) { connection in
      try connection.query(
        "SELECT tenant_id::text AS tenant FROM tenants_with_sealed_answers_due(\(Micros.sql("$1")))", [micros]
      ).rows.map { try $0.require(String.self, "tenant") }
    }
    var answers = 0
    var unopened: [(tenant: String, round: SurveyService.UnopenedRound)] = []
    var failures = TenantFailures()
    for tenant in tenants {
      do {
        let opened = try await self.pool.withTransaction(tenant: tenant) { connection in
          try SurveyService.openClosedRoundsLeavingUnopened(survey: nil, now: micros, keys: self.keys, connection)
        }
        answers += opened.answers
        unopened += opened.unopened.map { (tenant, $0) }
      } catch {
        failures.add(error, tenant: tenant)
      }
    }
    try failures.throwIfAny()
    return (answers, unopened)
  }
}
