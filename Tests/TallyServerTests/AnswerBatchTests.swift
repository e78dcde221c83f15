import Foundation
import TallyClient
import TallyProto
import TallyStore
import TallyWire
import Testing

/// SubmitResponse calls that arrive together are stored in one transaction (`AnswerBatch`); each
/// must still end exactly as it would alone, and never mix with another tenant's.
@Suite struct AnswerBatchTests {
  @Test func concurrentAnswersEachGetTheirOwnOutcome() async throws {
    try await DataTestContext.with { context in
      _ = try await context.clientA.unary(
        AccountMethods.upsertAccount, Fixture.upsert(Fixture.account("acme", tier: 1)))
      let contacts = (0..<12).map { "c\($0)" }
      for contact in contacts {
        _ = try await context.clientA.unary(
          AccountMethods.upsertContact, Fixture.upsert(Fixture.contact(contact, account: "acme")))
      }
      let nps = try await context.clientA.unary(SurveyMethods.createSurvey, SurveyFixture.survey("nps"))
      let npsTokens = try await SurveyFixture.contactTokens(
        context.clientA, try await SurveyFixture.openRound(context.clientA, nps.id).id, contacts)
      let enps = try await context.clientA.unary(SurveyMethods.createSurvey, SurveyFixture.survey("enps"))
      let enpsTokens = try await SurveyFixture.tokens(
        context.clientA, try await SurveyFixture.openRound(context.clientA, enps.id).id, 35, team: "core")

      // Each contact answers its score; 30 employees answer, five of them twice; five answers
      // are out of range; three tokens are unknown; tenant B tries ten of A's tokens.
      var calls: [(label: String, client: TallyClient, token: String, score: Int32)] = []
      for (index, contact) in contacts.enumerated() {
        calls.append(("nps \(contact)", context.collectorA, npsTokens[contact]!, Int32(index % 11)))
      }
      for index in 0..<30 { calls.append(("enps", context.collectorA, enpsTokens[index], 7)) }
      for index in 0..<5 { calls.append(("enps", context.collectorA, enpsTokens[index], 8)) }
      for index in 30..<35 { calls.append(("bad", context.collectorA, enpsTokens[index], 11)) }
      for index in 0..<3 { calls.append(("unknown", context.collectorA, "tlys_unknown\(index)", 5)) }
      for index in 20..<30 { calls.append(("other tenant", context.collectorB, enpsTokens[index], 0)) }
      let outcomes = await withTaskGroup(of: String.self) { group in
        for call in calls.shuffled() {
          group.addTask {
            do {
              let stored = try await SurveyFixture.submit(
                call.client, call.token, [SurveyFixture.number("score", call.score)])
              return call.label.hasPrefix("nps") ? "\(call.label) id \(!stored.responseID.isEmpty)" : "\(call.label) ok"
            } catch let error as RPCError {
              let field = error.fieldViolations.map(\.field).joined(separator: ",")
              return "\(call.label) \(error.code)\(field.isEmpty ? "" : " " + field)"
            } catch {
              return "\(call.label) \(error)"
            }
          }
        }
        return await group.reduce(into: [String: Int]()) { $0[$1, default: 0] += 1 }
      }
      var expected = Dictionary(uniqueKeysWithValues: contacts.map { ("nps \($0) id true", 1) })
      expected["enps ok"] = 30
      expected["enps \(RPCError.Code.alreadyExists)"] = 5
      expected["bad \(RPCError.Code.invalidArgument) answers[0].number,answers"] = 5
      expected["unknown \(RPCError.Code.notFound)"] = 3
      expected["other tenant \(RPCError.Code.notFound)"] = 10
      #expect(outcomes == expected)

      // The identified NPS answers are stored in the clear, the eNPS ones sealed until their round closes.
      func stored(tenant: String) async throws -> (clear: Int, sealed: Int) {
        try await context.pool.withTransaction(tenant: tenant) { connection in
          let row = try connection.query(
            """
            SELECT (SELECT count(*) FROM survey_responses) AS clear, (SELECT count(*) FROM survey_sealed_answers) AS sealed
            """
          ).rows[0]
          return (try row.require(Int.self, "clear"), try row.require(Int.self, "sealed"))
        }
      }
      #expect(try await stored(tenant: context.tenantA) == (12, 30))

      // Every identity belongs to its own contact's answer: the batch kept the rows in step.
      let identified = try await context.pool.withTransaction(tenant: context.tenantA) { connection in
        try connection.query(
          """
          SELECT i.contact_id AS contact, r.score FROM survey_response_identities i
          JOIN survey_responses r USING (tenant_id, response_id)
          """
        ).rows.map { "\(try $0.require(String.self, "contact")):\(try $0.require(Int.self, "score"))" }
      }
      #expect(Set(identified) == Set(contacts.enumerated().map { "\($1):\($0 % 11)" }) && identified.count == 12)

      // The refused answers left their tokens unused; tenant B's attempts changed nothing of A's.
      for token in enpsTokens[30..<35] {
        _ = try await SurveyFixture.submit(context.collectorA, token, [SurveyFixture.number("score", 10)])
      }
      #expect(try await stored(tenant: context.tenantA) == (12, 35))
      #expect(try await stored(tenant: context.tenantB) == (0, 0))
    }
  }
}
