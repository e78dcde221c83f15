import Crypto
import Foundation
import TallyProto
import TallyStore
import TallyWire

/// ListComments and ExportResponses: answers one by one, under the same anonymity rules as results.
extension SurveyService {
  @Sendable func listComments(_ request: Tally_V1_ListCommentsRequest, _ context: RequestContext) async throws
    -> Tally_V1_ListCommentsResponse
  {
    let id = try Validation.uuid(request.surveyID, field: "survey_id")
    let selection = try RoundSelectionSpec(request.rounds)
    let filter = try Self.segmentFilter(request.filter)
    let pageSize = try Validation.pageSize(request.pageSize)
    let page = try CommentPageToken.decode(request.pageToken)
    let now = self.nowMicros
    return try await self.database.transaction(context) { connection in
      let survey = try self.openedSurvey(id, now: now, connection)
      let textQuestions = survey.questions.filter { $0.type == "text" }.map(\.id)
      if !request.questionID.isEmpty, !textQuestions.contains(request.questionID) {
        throw RPCError.invalidArgument(
          field: "question_id", "must be a text question of the survey (\(textQuestions.joined(separator: ", ")))")
      }
      if !request.filter.accountID.isEmpty, survey.anonymous {
        throw RPCError.invalidArgument(
          field: "filter.account_id", "only identified NPS surveys have answers by account; this one is anonymous")
      }
      let questions = request.questionID.isEmpty ? textQuestions : [request.questionID]
      let rounds = try Self.roundData(survey, selection, now: now, countingAnswers: false, connection)
      let builder = SurveyResultsBuilder(survey: survey, rounds: rounds, filter: filter)
      var numbers: [String: Int] = [:]
      var shown: [String] = []
      var response = Tally_V1_ListCommentsResponse()
      for round in rounds where round.selected {
        switch builder.verdict(round) {
        case .shown(let segments):
          numbers[round.id] = round.number
          shown += segments.map { ShownSegments.key(round: round.id, $0) }
        case .suppressed(let reason):
          (response.suppressed, response.suppressedReason) = (true, reason)
          response.notes.append(SurveyResultsBuilder.leftOut(round, reason))
        }
      }
      if !numbers.isEmpty { (response.suppressed, response.suppressedReason) = (false, "") }
      guard !numbers.isEmpty else { return response }
      // One page in the database's order: the rows a page skips never reach this process.
      var parameters: [(any PostgresBindable)?] = [
        id, PostgresArray.literal(questions), nonEmpty(request.filter.accountID), PostgresArray.literal(shown),
        page.after, pageSize + 1,
      ]
      if survey.anonymous { parameters.append(page.seed) }
      let rows = try connection.query(
        """
        SELECT r.round_id::text AS round_id, r.score, q.key AS question, q.value #>> '{}' AS text, i.contact_id,
          k.key AS order_key
        FROM survey_responses r
        CROSS JOIN LATERAL jsonb_each(r.answers) q
        LEFT JOIN survey_response_identities i ON i.tenant_id = r.tenant_id AND i.response_id = r.response_id
        CROSS JOIN LATERAL (SELECT (\(survey.anonymous ? CommentOrder.anonymous : CommentOrder.newestFirst)) COLLATE "C" AS key) k
        WHERE r.survey_id = $1::uuid AND q.key = ANY($2::text[]) AND jsonb_typeof(q.value) = 'string'
          AND ($3::text IS NULL OR i.account_id = $3)
          AND \(ShownSegments.sql) IN (SELECT unnest($4::text[]))
          AND k.key > $5
        ORDER BY k.key
        LIMIT $6
        """, parameters
      ).rows
      for row in rows.prefix(pageSize) {
        var comment = Tally_V1_Comment()
        comment.questionID = try row.require(String.self, "question")
        comment.text = try row.require(String.self, "text")
        comment.roundNumber = UInt32(numbers[try row.require(String.self, "round_id")] ?? 0)
        if !survey.anonymous {
          comment.contactID = try row.decode(String.self, "contact_id") ?? ""
          if let score = try row.decode(Int.self, "score") { comment.score = UInt32(score) }
        }
        response.comments.append(comment)
      }
      if rows.count > pageSize {
        let last = try rows[pageSize - 1].require(String.self, "order_key")
        response.nextPageToken = CommentPageToken(seed: page.seed, after: last).encoded
      }
      return response
    }
  }
}

/// ListComments pages: a random seed fixed for one listing, and the order key of the last comment
/// shown (keyset paging: the next page starts after it, however many came before).
struct CommentPageToken {
  var seed: String
  var after: String

  var encoded: String { Data("c2|\(self.seed)|\(self.after)".utf8).base64EncodedString() }

  static func decode(_ token: String) throws -> Self {
    guard !token.isEmpty else { return Self(seed: UUID().uuidString, after: "") }
    let refused = RPCError.invalidArgument(field: "page_token", "is not a token this server issued; start without one")
    // A NUL, which PostgreSQL refuses, is in no token the server issued: refused here with its field.
    guard let data = Data(base64Encoded: token), !data.contains(0), let text = String(data: data, encoding: .utf8)
    else { throw refused }
    let parts = text.split(separator: "|", maxSplits: 2, omittingEmptySubsequences: false)
    // Bounded: a made-up seed of megabytes would be hashed once per comment (the server's seeds are
    // UUIDs), and no order key is longer than a time, a response id and a question id.
    guard parts.count == 3, parts[0] == "c2", parts[1].utf8.count <= 36, parts[2].utf8.count <= 200 else {
      throw refused
    }
    return Self(seed: String(parts[1]), after: String(parts[2]))
  }
}

/// The order of a comment list as one text PostgreSQL sorts by its bytes, unique per comment.
enum CommentOrder {
  /// Random for each listing's seed ($7, the last parameter of an anonymous survey's page), never by
  /// time; no response id in it, since page tokens carry it.
  static let anonymous = "md5($7 || r.response_id::text || q.key)"
  /// Newest first (the time inverted, so that ascending order puts it first), then by response and question.
  static let newestFirst = """
    lpad((9223372036854775807 - coalesce(\(Micros.of("i.answered_at")), 0))::text, 19, '0') || r.response_id::text || q.key
    """
}

/// A round and one of its segments as one text, the same in SQL and here, so that the rows of the
/// shown segments are chosen in the database by bytes. An absent part is U+0002 and the parts are
/// joined by U+0001: segment names refuse control characters, so no name is either.
enum ShownSegments {
  static let sql = """
    concat_ws(chr(1), r.round_id::text, coalesce(r.department, chr(2)), coalesce(r.team, chr(2)),
      coalesce(r.location, chr(2)), coalesce(r.tier::text, chr(2)))
    """

  static func key(round: String, _ segment: SegmentKey) -> String {
    [
      round, segment.department ?? "\u{2}", segment.team ?? "\u{2}", segment.location ?? "\u{2}",
      segment.tier.map { "\($0)" } ?? "\u{2}",
    ]
    .joined(separator: "\u{1}")
  }
}
