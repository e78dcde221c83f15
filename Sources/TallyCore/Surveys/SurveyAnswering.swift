import Foundation
import TallyProto
import TallyStore
import TallyWire

/// GetSurveyForToken and SubmitResponse: the two methods a `collect` key may call.
extension SurveyService {
  /// An invitation found by its token, with its round and survey.
  struct TokenInvitation {
    let survey: StoredSurvey
    let title: String
    let roundID: String
    let roundNumber: Int
    let closesAt: Int64?
    let contactID: String?
    let accountID: String?
    let segment: (department: String?, team: String?, location: String?, tier: Int?)
  }

  @Sendable func getSurveyForToken(_ request: Tally_V1_GetSurveyForTokenRequest, _ context: RequestContext)
    async throws -> Tally_V1_SurveyForToken
  {
    let hash = try Self.tokenHash(request.token)
    let now = self.nowMicros
    let invitation = try await self.database.transaction(context) { try Self.invitation(hash, now: now, $0) }
    var survey = Tally_V1_SurveyForToken()
    survey.surveyID = invitation.survey.id
    survey.kind = invitation.survey.kind
    survey.title = invitation.title
    survey.questions = invitation.survey.questions.map(\.message)
    survey.anonymous = invitation.survey.anonymous
    survey.roundNumber = UInt32(invitation.roundNumber)
    if let closes = invitation.closesAt { survey.closesAt = Micros.timestamp(closes) }
    return survey
  }

  @Sendable func submitResponse(_ request: Tally_V1_SubmitResponseRequest, _ context: RequestContext) async throws
    -> Tally_V1_SubmitResponseResponse
  {
    let hash = try Self.tokenHash(request.token)
    let now = self.nowMicros
    return try await self.database.transaction(context) { connection in
      let invitation = try Self.invitation(hash, now: now, lockSurvey: true, connection)
      let answers = try ResponseAnswers(validating: request.answers, questions: invitation.survey.questions)
      // The claim and the answer in one statement. Under the row lock a concurrent answer with the
      // same token finds it used and inserts nothing: exactly one wins.
      let segment = invitation.segment
      let inserted = try connection.query(
        """
        WITH claimed AS (
          UPDATE survey_invitations SET used = true WHERE token_hash = decode($9, 'hex') AND NOT used RETURNING 1
        )
        INSERT INTO survey_responses (tenant_id, survey_id, round_id, department, team, location, tier, score, answers)
        SELECT \(currentTenantSQL), $1::uuid, $2::uuid, $3, $4, $5, $6::smallint, $7::smallint, $8::jsonb FROM claimed
        RETURNING response_id::text AS id
        """,
        [
          invitation.survey.id, invitation.roundID, segment.department, segment.team, segment.location, segment.tier,
          answers.score, answers.json, hash,
        ]
      ).rows
      guard let row = inserted.first else { throw Self.alreadyAnswered }
      let responseID = try row.require(String.self, "id")
      var response = Tally_V1_SubmitResponseResponse()
      guard !invitation.survey.anonymous else { return response }
      if let account = invitation.accountID {
        try connection.query(
          """
          INSERT INTO survey_response_identities (tenant_id, response_id, contact_id, account_id, answered_at)
          VALUES (\(currentTenantSQL), $1::uuid, $2, $3, \(Micros.sql("$4")))
          """, [responseID, invitation.contactID, account, now])
      }
      response.responseID = responseID
      return response
    }
  }

  static let alreadyAnswered = RPCError(code: .alreadyExists, message: "this invitation has already been answered")

  /// The token's hash, or INVALID_ARGUMENT for text that cannot be a token.
  static func tokenHash(_ token: String) throws -> String {
    guard token.hasPrefix(Self.tokenPrefix), token.count <= 100 else {
      throw RPCError.invalidArgument(field: "token", "is not a survey token (they start with \(Self.tokenPrefix))")
    }
    return Self.hashHex(token)
  }

  /// The unused invitation of an open round: NOT_FOUND when unknown or expired, ALREADY_EXISTS
  /// when answered, FAILED_PRECONDITION when its round is not open.
  static func invitation(_ hash: String, now: Int64, lockSurvey: Bool = false, _ connection: PostgresConnection) throws
    -> TokenInvitation
  {
    let rows = try connection.query(
      """
      SELECT s.survey_id::text AS survey_id, s.kind, s.title, s.questions::text AS questions, s.anonymous,
        s.anonymity_threshold, s.archived_at IS NOT NULL AS archived, r.round_id::text AS round_id, r.number,
        \(Micros.column("r.opens_at")), \(Micros.column("r.closes_at")), i.used, \(Micros.column("i.expires_at")),
        i.contact_id, i.account_id, i.department, i.team, i.location, i.tier
      FROM survey_invitations i
      JOIN survey_rounds r ON r.tenant_id = i.tenant_id AND r.round_id = i.round_id
      JOIN surveys s ON s.tenant_id = r.tenant_id AND s.survey_id = r.survey_id
      WHERE i.token_hash = decode($1, 'hex')
      \(lockSurvey ? "FOR KEY SHARE OF s" : "")
      """, [hash]
    ).rows
    guard let row = rows.first else { throw RPCError(code: .notFound, message: "unknown survey token") }
    guard try !row.require(Bool.self, "used") else { throw Self.alreadyAnswered }
    let opens = try row.require(Int64.self, "opens_at")
    let closes = try row.decode(Int64.self, "closes_at")
    guard opens <= now, closes.map({ now < $0 }) ?? true else {
      throw RPCError(code: .failedPrecondition, message: "this survey round is closed")
    }
    if let expires = try row.decode(Int64.self, "expires_at"), expires <= now {
      throw RPCError(code: .notFound, message: "this survey token has expired")
    }
    return TokenInvitation(
      survey: try StoredSurvey(id: try row.require(String.self, "survey_id"), row),
      title: try row.require(String.self, "title"),
      roundID: try row.require(String.self, "round_id"),
      roundNumber: try row.require(Int.self, "number"),
      closesAt: closes,
      contactID: try row.decode(String.self, "contact_id"),
      accountID: try row.decode(String.self, "account_id"),
      segment: (
        try row.decode(String.self, "department"), try row.decode(String.self, "team"),
        try row.decode(String.self, "location"), try row.decode(Int.self, "tier")
      )
    )
  }
}
