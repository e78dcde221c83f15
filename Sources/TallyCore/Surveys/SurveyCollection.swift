import Crypto
import Foundation
import SwiftProtobuf
import TallyProto
import TallyStore
import TallyWire

/// Invitations and answers: single-use tokens, of which only a SHA-256 hash is stored.
extension SurveyService {
  static let maxInvitationsPerCall = 10_000
  static let tokenPrefix = "tlys_"

  @Sendable func issueInvitations(_ request: Tally_V1_IssueInvitationsRequest, _ context: RequestContext) async throws
    -> Tally_V1_IssueInvitationsResponse
  {
    var checker = FieldChecker()
    let collectedRoundID = try Validation.collecting(&checker) {
      try Validation.uuid(request.roundID, field: "round_id")
    }
    let now = self.nowMicros
    let collectedInvitees = try Validation.collecting(&checker) { try Self.checkInvitees(request) }
    let expiresAt = checker.timestamp(request.hasExpiresAt ? request.expiresAt : nil, "expires_at")
    if let expiresAt, expiresAt <= now { checker.add("expires_at", "must be in the future") }
    let (roundID, invitees) = (try checker.checked(collectedRoundID), try checker.checked(collectedInvitees))
    let tokens = invitees.map { _ in Self.newToken() }
    var response = Tally_V1_IssueInvitationsResponse()
    response.invitations = zip(invitees, tokens).map { invitee, token in
      var invitation = Tally_V1_Invitation()
      invitation.token = token
      invitation.contactID = invitee.contactID
      invitation.segment = invitee.segment
      return invitation
    }
    // Stored, invitations whose tokens could not be sent would count in the round for ever.
    let responseBytes = (try response.serializedBytes() as [UInt8]).count
    guard responseBytes <= context.maxResponseBytes else {
      throw RPCError.invalidArgument(
        field: request.invitees.isEmpty ? "count" : "invitees",
        "the answer with \(tokens.count) tokens would take \(responseBytes) bytes, above the connection's "
          + "max_frame_payload of \(context.maxResponseBytes): issue them in smaller calls")
    }
    try await self.database.transaction(context) { connection in
      let survey = try Self.lock(try self.round(roundID, connection).surveyID, connection)
      // Read again under the survey's lock: a CloseRound that held it has committed, and a round it
      // closed (its results may show) must not gain invitations, which would change its groups.
      // The round is held FOR SHARE, as a claim holds it: a round that passes its closing time
      // meanwhile opens (its groups read) only once these invitations commit, and one already
      // opened is refused here however stale `now` is.
      let opened = try connection.query(
        "SELECT answers_opened FROM survey_rounds WHERE round_id = $1::uuid FOR SHARE", [roundID]
      ).rows.first?.require(Bool.self, "answers_opened")
      let round = try self.round(roundID, connection)
      guard round.status == "open", opened == false else {
        throw RPCError(code: .failedPrecondition, message: "round \(round.number) is closed: it takes no invitations")
      }
      guard !survey.archived else { throw RPCError(code: .failedPrecondition, message: "the survey is archived") }
      if let first = invitees.firstIndex(where: { !$0.contactID.isEmpty }), survey.kind != "nps" {
        throw RPCError.invalidArgument(
          field: "invitees[\(first)].contact_id",
          "only NPS invitations name a contact; \(survey.kind) invitees are employees")
      }
      let accounts = try Self.contactAccounts(invitees, roundID, connection)
      try connection.query(
        """
        INSERT INTO survey_invitations (tenant_id, token_hash, round_id, contact_id, account_id, department, team,
          location, tier, expires_at)
        SELECT \(currentTenantSQL), decode(x.hash, 'hex'), $1::uuid, nullif(x.contact, ''), nullif(x.account, ''),
          nullif(x.department, ''), nullif(x.team, ''), nullif(x.location, ''), nullif(x.tier, '')::smallint,
          \(Micros.sql("$9"))
        FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])
          AS x(hash, contact, account, department, team, location, tier)
        """,
        [
          roundID, PostgresArray.literal(tokens.map { Self.hashHex($0) }),
          PostgresArray.literal(invitees.map(\.contactID)),
          PostgresArray.literal(invitees.map { accounts[ExactID($0.contactID)]?.account ?? "" }),
          PostgresArray.literal(invitees.map(\.segment.department)),
          PostgresArray.literal(invitees.map(\.segment.team)),
          PostgresArray.literal(invitees.map(\.segment.location)),
          PostgresArray.literal(invitees.map { accounts[ExactID($0.contactID)].map { String($0.tier) } ?? "" }),
          expiresAt,
        ])
    }
    return response
  }

  /// The request's invitees, one per token, every field checked.
  static func checkInvitees(_ request: Tally_V1_IssueInvitationsRequest) throws -> [Tally_V1_Invitee] {
    var checker = FieldChecker()
    let invitees: [Tally_V1_Invitee]
    if !request.invitees.isEmpty, request.count > 0 {
      checker.add("count", "give either invitees or count, not both")
    }
    if request.invitees.isEmpty {
      if request.count == 0 || request.count > Self.maxInvitationsPerCall {
        checker.add("count", "must be 1 to \(Self.maxInvitationsPerCall) (or give invitees); got \(request.count)")
      }
      var invitee = Tally_V1_Invitee()
      invitee.segment = request.segment
      invitees = Array(repeating: invitee, count: min(Int(request.count), Self.maxInvitationsPerCall))
      Self.checkSegment(request.segment, "segment.", &checker)
    } else {
      if request.invitees.count > Self.maxInvitationsPerCall {
        checker.add("invitees", "must be at most \(Self.maxInvitationsPerCall) per call, got \(request.invitees.count)")
      }
      if request.hasSegment { checker.add("segment", "goes with count; give each invitee its own segment") }
      invitees = request.invitees
      let listed = invitees.prefix(Self.maxInvitationsPerCall)
      let repeated = Set(Validation.repeats(listed.map(\.contactID)).map(\.index))
      for (index, invitee) in listed.enumerated() {
        if !invitee.contactID.isEmpty {
          checker.text(invitee.contactID, "invitees[\(index)].contact_id")
          if repeated.contains(index) {
            checker.add("invitees[\(index)].contact_id", "\"\(invitee.contactID)\" is invited twice")
          }
        }
        Self.checkSegment(invitee.segment, "invitees[\(index)].segment.", &checker)
      }
    }
    try checker.check()
    return invitees
  }

  static func checkSegment(_ segment: Tally_V1_Segment, _ prefix: String, _ checker: inout FieldChecker) {
    checker.text(segment.department, prefix + "department", max: 100)
    checker.text(segment.team, prefix + "team", max: 100)
    checker.text(segment.location, prefix + "location", max: 100)
  }

  /// Each contact's account and tier, by the contact id's bytes; NOT_FOUND for unknown contacts,
  /// ALREADY_EXISTS for ones this round already invited.
  static func contactAccounts(
    _ invitees: [Tally_V1_Invitee], _ roundID: String, _ connection: PostgresConnection
  ) throws -> [ExactID: (account: String, tier: Int)] {
    let contactIDs = invitees.map(\.contactID).filter { !$0.isEmpty }
    guard !contactIDs.isEmpty else { return [:] }
    let rows = try connection.query(
      """
      SELECT c.contact_id, c.account_id, a.tier,
        EXISTS (SELECT 1 FROM survey_invitations i WHERE i.tenant_id = c.tenant_id AND i.round_id = $2::uuid
                AND i.contact_id = c.contact_id) AS invited
      FROM contacts c JOIN accounts a USING (tenant_id, account_id) WHERE c.contact_id = ANY($1::text[])
      """, [PostgresArray.literal(contactIDs), roundID]
    ).rows
    var accounts: [ExactID: (account: String, tier: Int)] = [:]
    var invited: Set<ExactID> = []
    for row in rows {
      let contact = ExactID(try row.require(String.self, "contact_id"))
      if try row.require(Bool.self, "invited") { invited.insert(contact) }
      accounts[contact] = (try row.require(String.self, "account_id"), try row.require(Int.self, "tier"))
    }
    if let first = invitees.firstIndex(where: { invited.contains(ExactID($0.contactID)) }) {
      throw RPCError(
        code: .alreadyExists,
        message: "invitees[\(first)].contact_id: contact \(invitees[first].contactID) already has an invitation "
          + "for this round")
    }
    let missing = invitees.indices.filter {
      !invitees[$0].contactID.isEmpty && accounts[ExactID(invitees[$0].contactID)] == nil
    }
    guard missing.isEmpty else {
      let named = missing.prefix(5).map { "\(invitees[$0].contactID) (invitees[\($0)].contact_id)" }
      throw RPCError(
        code: .notFound,
        message:
          "no contact \(named.joined(separator: ", "))\(missing.count > 5 ? " and \(missing.count - 5) more" : "")")
    }
    return accounts
  }

  static func newToken() -> String {
    let base64 = Data(SecureRandom.bytes(24)).base64EncodedString()
      .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
    return Self.tokenPrefix + base64
  }

  static func hashHex(_ token: String) -> String {
    Hex.encode(SHA256.hash(data: Array(token.utf8)))
  }
}
