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
    let invitation = try await self.database.transaction(context) { connection in
      try Self.invitations([hash], now: now, connection)[hash, default: .failure(Self.unknownToken)].get()
    }
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

  /// Answers wait for their tenant's batch in flight and are then stored together (`AnswerBatch`).
  @Sendable func submitResponse(_ request: Tally_V1_SubmitResponseRequest, _ context: RequestContext) async throws
    -> Tally_V1_SubmitResponseResponse
  {
    // More answers than any survey has questions is refused before it waits for a batch.
    guard request.answers.count <= SurveyDefinition.maxQuestions else {
      throw RPCError.invalidArgument(
        field: "answers",
        "must be at most \(SurveyDefinition.maxQuestions) (a survey's most questions), got \(request.answers.count)")
    }
    let submission = AnswerBatch.Submission(
      hash: try Self.tokenHash(request.token), answers: request.answers, byOperator: context.principal.isOperator)
    return try await self.submissions.submit(submission, group: try TenantDatabase.tenant(of: context))
  }

  static let alreadyAnswered = RPCError(code: .alreadyExists, message: "this invitation has already been answered")
  static let unknownToken = RPCError(code: .notFound, message: "unknown survey token")
  /// A token lives at most as long as its round, so a closed round's token has expired: NOT_FOUND,
  /// as ../shared/design/SURVEYS.md has every expired token.
  static let roundClosed = RPCError(code: .notFound, message: "this survey round is closed: its tokens have expired")
  static let roundNotOpenYet = RPCError(code: .failedPrecondition, message: "this survey round is not open yet")

  /// The token's hash; INVALID_ARGUMENT when there is none, NOT_FOUND for text that cannot be a
  /// token (an unknown token, as ../shared/design/SURVEYS.md has it, with a hint).
  static func tokenHash(_ token: String) throws -> String {
    guard !token.isEmpty else { throw RPCError.invalidArgument(field: "token", "is required") }
    guard token.hasPrefix(Self.tokenPrefix), token.count <= 100 else {
      throw RPCError(code: .notFound, message: "unknown survey token: survey tokens start with \(Self.tokenPrefix)")
    }
    return Self.hashHex(token)
  }

  /// The invitations of the token hashes found, each as the unused invitation of an open round, or
  /// ALREADY_EXISTS when answered, FAILED_PRECONDITION when its round is not open yet, NOT_FOUND
  /// when expired (its round closed, its answers opened, or past its own `expires_at`). A hash
  /// that is not in the result is unknown. Each survey's questions are decoded once. `lockSurveyAndRounds` is for SubmitResponse (`lockedInvitationsSQL`).
  /// The invitations are found by key first (MATERIALIZED): joined to their round, the planner
  /// took the round's index and read every invitation of the round.
  static func invitations(
    _ hashes: some Collection<String>,
    now: Int64,
    lockSurveyAndRounds: Bool = false,
    _ connection: PostgresConnection
  ) throws -> [String: Result<TokenInvitation, RPCError>] {
    let rows = try connection.query(
      lockSurveyAndRounds ? Self.lockedInvitationsSQL : Self.invitationsSQL, [PostgresArray.literal(Array(hashes))]
    ).rows
    var surveys: [String: StoredSurvey] = [:]
    var found: [String: Result<TokenInvitation, RPCError>] = [:]
    for row in rows {
      let surveyID = try row.require(String.self, "survey_id")
      let survey = try surveys[surveyID] ?? StoredSurvey(id: surveyID, row)
      surveys[surveyID] = survey
      found[try row.require(String.self, "hash")] = try Self.openInvitation(row, survey, now: now)
    }
    return found
  }

  /// `invitations`' statement, built once: SubmitResponse runs it for every batch.
  private static let invitationsSQL = """
    WITH i AS MATERIALIZED (
      SELECT * FROM survey_invitations WHERE token_hash = ANY(ARRAY(SELECT decode(h, 'hex') FROM unnest($1::text[]) h))
    )
    SELECT encode(i.token_hash, 'hex') AS hash, s.survey_id::text AS survey_id, s.kind, s.title,
      s.questions::text AS questions, s.anonymous, s.anonymity_threshold, s.archived_at IS NOT NULL AS archived,
      r.round_id::text AS round_id, r.number, \(Micros.column("r.opens_at")), \(Micros.column("r.closes_at")),
      r.answers_opened,
      i.used, \(Micros.column("i.expires_at")), i.contact_id, i.account_id, i.department, i.team, i.location, i.tier
    FROM i
    JOIN survey_rounds r ON r.tenant_id = i.tenant_id AND r.round_id = i.round_id
    JOIN surveys s ON s.tenant_id = r.tenant_id AND s.survey_id = r.survey_id
    """
  /// For SubmitResponse: the survey against changes, and the round FOR SHARE until the answers are
  /// stored, so that an opener of its sealed answers (which marks it `answers_opened` first) waits
  /// for them; a round it marked before is seen marked here, however stale `now` is, and refused.
  /// The rows are locked in their sorted order: by round id, as openers lock rounds, so that a
  /// batch with tokens of two rounds and an opener of both never wait for each other.
  private static let lockedInvitationsSQL =
    Self.invitationsSQL + "\nORDER BY r.round_id\nFOR KEY SHARE OF s FOR SHARE OF r"

  private static func openInvitation(_ row: PostgresRow, _ survey: StoredSurvey, now: Int64) throws -> Result<
    TokenInvitation, RPCError
  > {
    guard try !row.require(Bool.self, "used") else { return .failure(Self.alreadyAnswered) }
    let opens = try row.require(Int64.self, "opens_at")
    let closes = try row.decode(Int64.self, "closes_at")
    guard closes.map({ now < $0 }) ?? true, try !row.require(Bool.self, "answers_opened") else {
      return .failure(Self.roundClosed)
    }
    guard opens <= now else { return .failure(Self.roundNotOpenYet) }
    if let expires = try row.decode(Int64.self, "expires_at"), expires <= now {
      return .failure(RPCError(code: .notFound, message: "this survey token has expired"))
    }
    return .success(
      TokenInvitation(
        survey: survey,
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
      ))
  }
}
