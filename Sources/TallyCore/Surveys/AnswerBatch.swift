import Foundation
import TallyProto
import TallyStore
import TallyWire

/// SubmitResponse's storage: the answers of one tenant that arrived together, stored in one
/// transaction of two or three statements (the invitations, the claims with the responses, the
/// identities of a survey that is not anonymous) whatever their number. Each answer still
/// succeeds or fails on its own. An anonymous answer is stored sealed (`AnswerSeal`) until its
/// round closes.
enum AnswerBatch {
  /// Transactions of one tenant's answers at the same time: one running its statements, the other
  /// committing, so the next batch starts while the last one waits for its WAL flush (which cost as
  /// much as the statements on this VM). Two did as well as three with a lower p99, and leave half
  /// of a 2-core pool to other work (docs/BENCHMARKS.md). Other tenants' answers have their own.
  static let maxInFlight = 2
  static let maxBatch = 64
  /// Answers that must wait before a batch starts beside a committing one. Fewer wait for the
  /// commit and go with the answers that come meanwhile: when the WAL flush is quick, a batch of
  /// one or two costs more than the wait. 4 beat 1 (the old rule) on quick and slow flushes alike.
  static let minBatchBesideCommit = 4
  /// The batch's statements keep one plan: under the default mode PostgreSQL may plan them again
  /// for every batch (a custom plan sizes each `unnest` to its array), a third of its CPU per
  /// answer, for plans no better (docs/BENCHMARKS.md, "Session 44: submit's batch planned once").
  static let settings = [(name: "plan_cache_mode", value: "force_generic_plan")]

  typealias Outcome = Result<Tally_V1_SubmitResponseResponse, any Error>

  /// One SubmitResponse call, its token already checked for shape and hashed.
  struct Submission: Sendable {
    let hash: String
    let answers: [Tally_V1_Answer]
    /// An operator key named the tenant, which must then be checked to exist.
    let byOperator: Bool
  }

  /// Stores `batch` in one transaction. When the transaction fails as a whole (a lost connection,
  /// a tenant that an operator key named and that does not exist) each answer is tried
  /// again alone, so that one answer's trouble is never another's; but not when the connection
  /// was lost with the COMMIT sent: the batch may be stored, and each answer tried again would
  /// find its own token used (ALREADY_EXISTS). Each gets the unknown outcome it would get alone.
  static func store(
    _ batch: [Submission],
    tenant: String,
    database: TenantDatabase,
    key: AnswerSealingKey,
    now: @Sendable () -> Int64,
    committing: @escaping @Sendable () -> Void = {}
  ) async -> [Outcome] {
    let time = now()
    do {
      return try await database.transaction(
        tenant: tenant, checkingTenant: batch.contains(where: \.byOperator), settings: Self.settings
      ) {
        try Self.store(batch, now: time, key: key, $0, committing: committing)
      }
    } catch {
      guard batch.count > 1, !IdempotentCalls.mayHaveCommitted(error) else { return batch.map { _ in .failure(error) } }
      var outcomes: [Outcome] = []
      for submission in batch {
        outcomes += await Self.store([submission], tenant: tenant, database: database, key: key, now: now)
      }
      return outcomes
    }
  }

  /// The batch's statements on one connection: an outcome per submission, in order. `committing`
  /// runs just before the statement that carries the COMMIT is sent.
  static func store(
    _ batch: [Submission], now: Int64, key: AnswerSealingKey, _ connection: PostgresConnection,
    committing: @Sendable () -> Void
  ) throws -> [Outcome] {
    let invitations = try SurveyService.invitations(
      Set(batch.map(\.hash)), now: now, lockSurveyAndRounds: true, connection)
    var outcomes = [Outcome](repeating: .failure(SurveyService.unknownToken), count: batch.count)
    var accepted: [(index: Int, invitation: SurveyService.TokenInvitation, responseID: String)] = []
    var rows = ResponseRows()
    var hashes = Set<String>()
    for (index, submission) in batch.enumerated() {
      // A token twice in one batch: the first answer claims it, the repeat finds it answered.
      guard !hashes.contains(submission.hash) else {
        outcomes[index] = .failure(SurveyService.alreadyAnswered)
        continue
      }
      do {
        let invitation = try invitations[submission.hash, default: .failure(SurveyService.unknownToken)].get()
        let answers = try ResponseAnswers(validating: submission.answers, questions: invitation.survey.questions)
        let responseID = SecureRandom.uuidString()
        try rows.append(hash: submission.hash, invitation, answers, responseID: responseID, key: key)
        accepted.append((index, invitation, responseID))
        hashes.insert(submission.hash)
      } catch {
        outcomes[index] = .failure(error)
      }
    }
    guard !accepted.isEmpty else { return outcomes }
    // The batch's last statement carries the COMMIT: the claim, unless identities follow it.
    let mayIdentify = accepted.contains { !$0.invitation.survey.anonymous && $0.invitation.accountID != nil }
    let claim = mayIdentify ? connection.query : connection.queryAndCommit
    if !mayIdentify { committing() }
    let claimed = Set(
      try claim(Self.claimAndInsertSQL, rows.parameters + [key.fingerprint]).rows.map {
        try $0.require(String.self, "hash")
      })
    var identities = (responseIDs: [String?](), contacts: [String?](), accounts: [String?]())
    for (index, invitation, responseID) in accepted {
      guard claimed.contains(batch[index].hash) else {
        outcomes[index] = .failure(SurveyService.alreadyAnswered)
        continue
      }
      var response = Tally_V1_SubmitResponseResponse()
      if !invitation.survey.anonymous {
        response.responseID = responseID
        if let account = invitation.accountID {
          identities.responseIDs.append(responseID)
          identities.contacts.append(invitation.contactID)
          identities.accounts.append(account)
        }
      }
      outcomes[index] = .success(response)
    }
    if mayIdentify { committing() }
    if !identities.responseIDs.isEmpty {
      try connection.queryAndCommit(
        """
        INSERT INTO survey_response_identities (tenant_id, response_id, contact_id, account_id, answered_at)
        SELECT \(currentTenantSQL), u.response_id, u.contact_id, u.account_id, \(Micros.sql("$4"))
        FROM unnest($1::uuid[], $2::text[], $3::text[]) AS u(response_id, contact_id, account_id)
        """,
        [
          PostgresArray.literal(identities.responseIDs), PostgresArray.literal(identities.contacts),
          PostgresArray.literal(identities.accounts), now,
        ])
    }
    return outcomes
  }

  /// Claims each token and stores its response in one statement: in the clear for an identified
  /// survey, sealed (bytes in $11, under the key named by $12) for an anonymous one. Under the
  /// invitation's row lock a concurrent answer with the same token finds it used and stores
  /// nothing: exactly one wins. (The batch's first statement locked the rounds FOR SHARE and
  /// refused those whose answers were opened: `SurveyService.invitations`.) Returns the hashes of
  /// the tokens this batch claimed. The claim goes by key (`ANY` of the hashes): an `UPDATE … FROM`
  /// the input, or a condition on the round, left the planner free to scan the whole round.
  static let claimAndInsertSQL = """
    WITH claimed AS (
      UPDATE survey_invitations SET used = true
      WHERE token_hash = ANY(ARRAY(SELECT decode(h, 'hex') FROM unnest($1::text[]) h)) AND NOT used
      RETURNING encode(token_hash, 'hex') AS hash
    ), stored AS (
      INSERT INTO survey_responses (tenant_id, response_id, survey_id, round_id, department, team, location, tier,
        score, answers)
      SELECT \(currentTenantSQL), response_id, survey_id, round_id, department, team, location, tier, score, answers
      FROM unnest($1::text[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::smallint[],
        $8::smallint[], $9::jsonb[], $10::uuid[])
        AS u(hash, survey_id, round_id, department, team, location, tier, score, answers, response_id)
      JOIN claimed USING (hash)
      WHERE answers IS NOT NULL
    ), sealed AS (
      INSERT INTO survey_sealed_answers (tenant_id, round_id, key_id, sealed)
      SELECT \(currentTenantSQL), round_id, $12, sealed
      FROM unnest($1::text[], $3::uuid[], $11::bytea[]) AS u(hash, round_id, sealed)
      JOIN claimed USING (hash)
      WHERE sealed IS NOT NULL
    )
    SELECT hash FROM claimed
    """

  /// The columns of `claimAndInsertSQL`'s input, one array each: an anonymous answer has only its
  /// hash, survey, round and sealed content. The sealed contents go as bytes (`PostgresByteaArray`).
  private struct ResponseRows {
    var columns = [[String?]](repeating: [], count: 10)
    var sealed: [[UInt8]?] = []

    mutating func append(
      hash: String,
      _ invitation: SurveyService.TokenInvitation,
      _ answers: ResponseAnswers,
      responseID: String,
      key: AnswerSealingKey
    ) throws {
      let segment = invitation.segment
      let values: [String?]
      if invitation.survey.anonymous {
        let response = SealedResponse(
          department: segment.department, team: segment.team, location: segment.location, tier: segment.tier,
          score: answers.score, answers: answers.json)
        let sealed = try AnswerSeal.seal(
          response, round: invitation.roundID, key: key, floor: AnswerSeal.paddingFloor(invitation.survey.questions))
        values = [hash, invitation.survey.id, invitation.roundID, nil, nil, nil, nil, nil, nil, responseID]
        self.sealed.append([UInt8](sealed))
      } else {
        values = [
          hash, invitation.survey.id, invitation.roundID, segment.department, segment.team, segment.location,
          segment.tier.map(String.init), answers.score.map(String.init), answers.json, responseID,
        ]
        self.sealed.append(nil)
      }
      for (column, value) in values.enumerated() { self.columns[column].append(value) }
    }

    var parameters: [(any PostgresBindable)?] {
      self.columns.map { PostgresArray.literal($0) } + [PostgresByteaArray(self.sealed)]
    }
  }
}
