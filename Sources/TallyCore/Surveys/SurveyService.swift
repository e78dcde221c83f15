public import Foundation
import TallyProto
public import TallyStore
import TallyWire

extension Access {
  /// Keys that may fetch a survey by token and answer it: `collect` keys, and the writers.
  public static let surveyCollect = Access.scopes([.operator, .admin, .write, .collect])
}

/// `tally.v1.SurveyService`: NPS, eNPS and pulse surveys of the call's tenant (docs/SURVEYS.md).
public struct SurveyService: Sendable {
  let database: TenantDatabase
  /// Seal anonymous answers until their round closes, and open them.
  let sealingKeys: AnswerSealingKeys
  /// The server's clock; tests replace it to move rounds through time.
  let clock: @Sendable () -> Date
  /// SubmitResponse calls of one tenant that arrive together are stored together.
  let submissions: GroupCommitter<AnswerBatch.Submission, Tally_V1_SubmitResponseResponse>

  public init(pool: PostgresPool, sealingKeys: AnswerSealingKeys, clock: @escaping @Sendable () -> Date = { Date() }) {
    let database = TenantDatabase(pool: pool)
    self.database = database
    self.sealingKeys = sealingKeys
    self.clock = clock
    self.submissions = GroupCommitter(
      maxInFlight: AnswerBatch.maxInFlight, maxBatch: AnswerBatch.maxBatch,
      minBatchBesideCommit: AnswerBatch.minBatchBesideCommit
    ) {
      tenant, batch, committing in
      await AnswerBatch.store(
        batch, tenant: tenant, database: database, key: sealingKeys.current, now: { Self.microsSinceEpoch(clock()) },
        committing: committing)
    }
  }

  public func register(into router: inout Router) {
    router.unary(SurveyMethods.createSurvey, access: .tenantWrite, self.createSurvey)
    router.unary(SurveyMethods.getSurvey, access: .tenantRead) { request, context in
      let id = try Validation.uuid(request.id, field: "id")
      return try await self.database.transaction(context) { try self.survey(id, $0) }
    }
    router.unary(SurveyMethods.listSurveys, access: .tenantRead, self.listSurveys)
    router.unary(SurveyMethods.updateSurvey, access: .tenantWrite, self.updateSurvey)
    router.unary(SurveyMethods.archiveSurvey, access: .tenantWrite, self.archiveSurvey)
    router.unary(SurveyMethods.openRound, access: .tenantWrite, self.openRound)
    router.unary(SurveyMethods.closeRound, access: .tenantWrite, self.closeRound)
    router.unary(SurveyMethods.listRounds, access: .tenantRead, self.listRounds)
    router.unary(SurveyMethods.issueInvitations, access: .tenantWrite, self.issueInvitations)
    router.unary(SurveyMethods.getSurveyForToken, access: .surveyCollect, self.getSurveyForToken)
    router.unary(SurveyMethods.submitResponse, access: .surveyCollect, self.submitResponse)
    router.unary(SurveyMethods.getResults, access: .tenantRead, self.getResults)
    router.unary(SurveyMethods.listComments, access: .tenantRead, self.listComments)
    router.serverStreaming(SurveyMethods.exportResponses, access: .tenantRead, self.exportResponses)
  }

  var nowMicros: Int64 { Self.microsSinceEpoch(self.clock()) }

  static func microsSinceEpoch(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1_000_000).rounded(.down)) }

  /// A survey's columns; `now` is the SQL of the bigint micros that tell closed rounds from open
  /// ones: an anonymous survey counts only the responses its results show (closed rounds at the
  /// threshold), so the total cannot tell who just answered.
  static func columns(now: String) -> String {
    """
    s.survey_id::text AS survey_id, s.kind, s.title, s.questions::text AS questions, s.anonymous, \
    s.anonymity_threshold, s.cadence, s.cadence_open_day, s.cadence_open_days, s.archived_at IS NOT NULL AS archived, \
    \(Micros.column("s.created_at")), \(Micros.column("s.updated_at")),
    (SELECT count(*) FROM survey_rounds r WHERE r.tenant_id = s.tenant_id AND r.survey_id = s.survey_id) AS round_count,
    (SELECT coalesce(sum(n), 0)::bigint FROM (
       SELECT count(*) AS n FROM survey_responses p
       JOIN survey_rounds r ON r.tenant_id = p.tenant_id AND r.round_id = p.round_id
       WHERE p.tenant_id = s.tenant_id AND p.survey_id = s.survey_id
         AND (NOT s.anonymous OR r.closes_at <= \(Micros.sql(now)))
       GROUP BY p.round_id HAVING NOT s.anonymous OR count(*) >= s.anonymity_threshold) counted) AS response_count
    """
  }

  @Sendable func createSurvey(_ request: Tally_V1_CreateSurveyRequest, _ context: RequestContext) async throws
    -> Tally_V1_Survey
  {
    let definition = try SurveyDefinition(validating: request.survey)
    let today = CivilDay(self.clock()).description
    return try await self.database.transaction(context) { connection in
      let id = try connection.query(
        """
        INSERT INTO surveys (tenant_id, kind, title, questions, anonymous, anonymity_threshold, cadence,
          cadence_open_day, cadence_open_days, cadence_anchor)
        VALUES (\(currentTenantSQL), $1, $2, $3::jsonb, $4::boolean, $5::integer, $6, $7::integer, $8::integer,
          CASE WHEN $6::text IS NULL THEN NULL ELSE $9::date END)
        RETURNING survey_id::text AS id
        """,
        Self.parameters(definition) + [today]
      ).rows[0].require(String.self, "id")
      return try self.survey(id, connection)
    }
  }

  @Sendable func updateSurvey(_ request: Tally_V1_UpdateSurveyRequest, _ context: RequestContext) async throws
    -> Tally_V1_Survey
  {
    var checker = FieldChecker()
    let collectedID = try Validation.collecting(&checker) { try Validation.uuid(request.survey.id, field: "survey.id") }
    let collectedDefinition = try Validation.collecting(&checker) { try SurveyDefinition(validating: request.survey) }
    let (id, definition) = (try checker.checked(collectedID), try checker.checked(collectedDefinition))
    let today = CivilDay(self.clock()).description
    return try await self.database.transaction(context) { connection in
      let current = try Self.lock(id, connection)
      guard current.kind == definition.kind else {
        throw RPCError.invalidArgument(field: "survey.kind", "cannot change from \(current.kind) to \(definition.kind)")
      }
      let state = try connection.query(
        """
        SELECT EXISTS (SELECT 1 FROM survey_responses WHERE survey_id = $1::uuid)
            OR EXISTS (SELECT 1 FROM survey_sealed_answers a JOIN survey_rounds r USING (tenant_id, round_id)
              WHERE r.survey_id = $1::uuid) AS answered,
          EXISTS (SELECT 1 FROM survey_invitations i JOIN survey_rounds r ON r.round_id = i.round_id
            WHERE r.survey_id = $1::uuid) AS invited
        """, [id]
      ).rows[0]
      guard !(try state.require(Bool.self, "answered")) else {
        throw RPCError(
          code: .failedPrecondition,
          message: "survey \(id) has answers: its questions and settings can no longer change; create a new survey")
      }
      // Invited people were told whether their answer is anonymous, and in how large a group it
      // is shown; an answer must be kept so. A higher threshold only hides more.
      let invited = try state.require(Bool.self, "invited")
      if current.anonymous != definition.anonymous, invited {
        throw RPCError(
          code: .failedPrecondition,
          message: "survey \(id) has invitations issued as \(current.anonymous ? "anonymous" : "identified")"
            + ": survey.anonymous can no longer change; create a new survey")
      }
      if definition.threshold < current.threshold, invited {
        throw RPCError(
          code: .failedPrecondition,
          message: "survey \(id) has invitations issued with an anonymity threshold of \(current.threshold)"
            + ": survey.anonymity_threshold can no longer go lower (it may go higher); create a new survey")
      }
      try connection.query(
        """
        UPDATE surveys SET title = $2, questions = $3::jsonb, anonymous = $4::boolean,
          anonymity_threshold = $5::integer, cadence = $6, cadence_open_day = $7::integer,
          cadence_open_days = $8::integer, updated_at = now(),
          cadence_anchor = CASE WHEN $6::text IS NULL THEN NULL
            WHEN cadence IS DISTINCT FROM $6 OR cadence_open_day IS DISTINCT FROM $7::integer THEN $9::date
            ELSE cadence_anchor END
        WHERE survey_id = $1::uuid
        """,
        [id] + Array(Self.parameters(definition).dropFirst()) + [today]
      )
      return try self.survey(id, connection)
    }
  }

  @Sendable func archiveSurvey(_ request: Tally_V1_ArchiveSurveyRequest, _ context: RequestContext) async throws
    -> Tally_V1_Survey
  {
    let id = try Validation.uuid(request.id, field: "id")
    let now = self.nowMicros
    return try await self.database.transaction(context) { connection in
      _ = try Self.lock(id, connection)
      try Self.lockRounds(of: id, connection)
      try connection.query(Self.closeRoundsSQL(where: "survey_id"), [id, now])
      try connection.query(
        "UPDATE surveys SET archived_at = coalesce(archived_at, now()), updated_at = now() WHERE survey_id = $1::uuid",
        [id])
      return try self.survey(id, connection)
    }
  }

  @Sendable func listSurveys(_ request: Tally_V1_ListSurveysRequest, _ context: RequestContext) async throws
    -> Tally_V1_ListSurveysResponse
  {
    let pageSize = try Validation.pageSize(request.pageSize)
    let after = try PageToken.decode(request.pageToken, positions: PageToken.timePositions)
    if !request.kind.isEmpty {
      var checker = FieldChecker()
      checker.oneOf(request.kind, "kind", SurveyDefinition.kinds)
      try checker.check()
    }
    let now = self.nowMicros
    let rows = try await self.database.transaction(context) { connection in
      try Self.openClosedRoundsLeavingUnopened(survey: nil, now: now, keys: self.sealingKeys, connection)
      return try connection.query(
        """
        SELECT \(Self.columns(now: "$6")) FROM surveys s
        WHERE ($1::bigint IS NULL OR (s.created_at, s.survey_id) > (\(Micros.sql("$1")), $2::uuid))
          AND ($3::text IS NULL OR s.kind = $3) AND ($4::boolean OR s.archived_at IS NULL)
        ORDER BY s.created_at, s.survey_id LIMIT $5
        """,
        [after?.position, after?.id, nonEmpty(request.kind), request.includeArchived, pageSize + 1, now]
      ).rows
    }
    var response = Tally_V1_ListSurveysResponse()
    response.surveys = try rows.prefix(pageSize).map(Self.message)
    if rows.count > pageSize, let last = rows.prefix(pageSize).last {
      response.nextPageToken = PageToken.encode(
        position: try last.require(Int64.self, "created_at"), id: try last.require(String.self, "survey_id"))
    }
    return response
  }

  /// The stored form of a definition: $1 kind … $8 open days.
  static func parameters(_ definition: SurveyDefinition) -> [(any PostgresBindable)?] {
    [
      definition.kind, definition.title, definition.questionsJSON, definition.anonymous, definition.threshold,
      definition.cadence?.rawValue, definition.openDay, definition.openDays,
    ]
  }

  /// The survey's message, its closed rounds' answers opened first (those that open: a round that
  /// does not fails only the calls that read its answers).
  func survey(_ id: String, _ connection: PostgresConnection) throws -> Tally_V1_Survey {
    let now = self.nowMicros
    try Self.openClosedRoundsLeavingUnopened(survey: id, now: now, keys: self.sealingKeys, connection)
    let row = try connection.query(
      "SELECT \(Self.columns(now: "$2")) FROM surveys s WHERE s.survey_id = $1::uuid", [id, now]
    ).rows
    guard let row = row.first else { throw RPCError(code: .notFound, message: "no survey \(id)") }
    return try Self.message(row)
  }

  /// The survey's row, locked against concurrent changes, rounds and answers until the transaction ends.
  static func lock(_ id: String, _ connection: PostgresConnection) throws -> StoredSurvey {
    let rows = try connection.query(
      """
      SELECT kind, questions::text AS questions, anonymous, anonymity_threshold, archived_at IS NOT NULL AS archived
      FROM surveys WHERE survey_id = $1::uuid FOR UPDATE
      """, [id]
    ).rows
    guard let row = rows.first else { throw RPCError(code: .notFound, message: "no survey \(id)") }
    return try StoredSurvey(id: id, row)
  }

  static func message(_ row: PostgresRow) throws -> Tally_V1_Survey {
    var survey = Tally_V1_Survey()
    survey.id = try row.require(String.self, "survey_id")
    survey.kind = try row.require(String.self, "kind")
    survey.title = try row.require(String.self, "title")
    survey.questions = try SurveyDefinition.questions(fromJSON: try row.require(String.self, "questions")).map(
      \.message)
    survey.anonymous = try row.require(Bool.self, "anonymous")
    survey.anonymityThreshold = UInt32(try row.require(Int.self, "anonymity_threshold"))
    if let period = try row.decode(String.self, "cadence") {
      survey.cadence.period = period
      survey.cadence.openDay = UInt32(try row.decode(Int.self, "cadence_open_day") ?? 0)
      survey.cadence.openDays = UInt32(try row.decode(Int.self, "cadence_open_days") ?? 0)
    }
    survey.archived = try row.require(Bool.self, "archived")
    survey.roundCount = UInt32(try row.require(Int.self, "round_count"))
    survey.responseCount = UInt64(try row.require(Int64.self, "response_count"))
    survey.createdAt = Micros.timestamp(try row.require(Int64.self, "created_at"))
    survey.updatedAt = Micros.timestamp(try row.require(Int64.self, "updated_at"))
    return survey
  }
}

/// What the round, collection and results code needs of a stored survey.
struct StoredSurvey: Sendable {
  let id: String
  let kind: String
  let questions: [SurveyQuestion]
  let anonymous: Bool
  let threshold: Int
  let archived: Bool

  init(id: String, _ row: PostgresRow) throws {
    self.id = id
    self.kind = try row.require(String.self, "kind")
    self.questions = try SurveyDefinition.questions(fromJSON: try row.require(String.self, "questions"))
    self.anonymous = try row.require(Bool.self, "anonymous")
    self.threshold = try row.require(Int.self, "anonymity_threshold")
    self.archived = try row.require(Bool.self, "archived")
  }
}
