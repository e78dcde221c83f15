public import Foundation
public import TallyStore
import TallyWire

/// Opens the sealed answers of closed rounds: every survey read that may show a closed round's
/// answers opens them first, in its transaction, and `SealedRoundOpener` does it for every tenant
/// once a minute, so that the survey KPIs (which never open a round) see a round soon after its
/// closing time passed.
extension SurveyService {
  /// Moves the sealed answers of the tenant's rounds closed at `now` (of one survey, or of all) into
  /// `survey_responses`, in random order; returns how many. The DELETE hands each sealed row to
  /// exactly one of several concurrent openers, which lock the rounds first, in one order, so that
  /// two of them never hold each other's rows (a deadlock, one call ABORTED).
  @discardableResult
  static func openClosedRounds(
    survey: String?, now: Int64, keys: AnswerSealingKeys, _ connection: PostgresConnection
  ) throws -> Int {
    let rows = try connection.query(
      """
      WITH due AS (
        SELECT r.round_id, r.survey_id FROM survey_rounds r
        WHERE r.closes_at <= \(Micros.sql("$1")) AND ($2::uuid IS NULL OR r.survey_id = $2::uuid)
          AND EXISTS (SELECT 1 FROM survey_sealed_answers s WHERE s.tenant_id = r.tenant_id AND s.round_id = r.round_id)
        ORDER BY r.round_id FOR NO KEY UPDATE
      )
      DELETE FROM survey_sealed_answers a USING due r
      WHERE a.tenant_id = \(currentTenantSQL) AND a.round_id = r.round_id
      RETURNING r.survey_id::text AS survey_id, a.round_id::text AS round_id, a.key_id,
        translate(encode(a.sealed, 'base64'), E'\\n', '') AS sealed
      """, [now, survey]
    ).rows
    guard !rows.isEmpty else { return 0 }
    var columns = [[String?]](repeating: [], count: 8)
    for row in rows.shuffled() {
      let round = try row.require(String.self, "round_id")
      let response = try Self.open(
        try row.require(String.self, "sealed"), keyID: try row.require(String.self, "key_id"), round: round, keys: keys)
      let values: [String?] = [
        try row.require(String.self, "survey_id"), round, response.department, response.team, response.location,
        response.tier.map(String.init), response.score.map(String.init), response.answers,
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
    guard let bytes = Data(base64Encoded: sealed),
      let response = try? AnswerSeal.open(bytes, round: round, key: key)
    else {
      throw RPCError(
        code: .dataLoss, message: "a sealed answer of round \(round) does not open with its key: it was changed")
    }
    return response
  }

  /// The survey's stored settings, its closed rounds' answers opened first.
  func openedSurvey(_ id: String, now: Int64, _ connection: PostgresConnection) throws -> StoredSurvey {
    try Self.openClosedRounds(survey: id, now: now, keys: self.sealingKeys, connection)
    return try Self.stored(id, connection)
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

  /// Opens every round closed at `now` that still holds sealed answers; returns how many answers.
  @discardableResult
  public func openClosedRounds(now: Date) async throws -> Int {
    let micros = SurveyService.microsSinceEpoch(now)
    let tenants = try await self.pool.withTransaction(tenant: nil) { connection in
      try connection.query(
        "SELECT tenant_id::text AS tenant FROM tenants_with_sealed_answers_due(\(Micros.sql("$1")))", [micros]
      ).rows.map { try $0.require(String.self, "tenant") }
    }
    var opened = 0
    for tenant in tenants {
      opened += try await self.pool.withTransaction(tenant: tenant) { connection in
        try SurveyService.openClosedRounds(survey: nil, now: micros, keys: self.keys, connection)
      }
    }
    return opened
  }
}
