import Foundation
import TallyStore
import TallyTestSupport
import Testing

/// Migration 0016 stores the anonymous answers of before migration 0015 again, so that they no
/// longer share transaction ids with the claims of their invitations.
@Suite struct AnonymousAnswersMigrationTests {
  @Test func anonymousAnswersAreStoredAgainTogetherAndIdentifiedOnesStay() async throws {
    let database = try await TestDatabase.create(migrated: false)
    let owner = try PostgresConnection(conninfo: database.ownerURL)
    defer { owner.close() }
    #expect(try Migrator(migrations: TestDatabase.migrations(before: "0016")).migrate(owner).count == 15)
    let tenant = UUID().uuidString.lowercased()
    let pool = database.pool()
    defer { pool.close() }
    // An anonymous eNPS round and an identified NPS round, each answer in its own transaction as
    // the claims stored them before migration 0015.
    let (enpsRound, npsRound) = try await pool.withTransaction(tenant: tenant) { connection in
      try connection.query("INSERT INTO tenants (tenant_id, name, currency) VALUES ($1::uuid, 'T', 'EUR')", [tenant])
      func round(_ kind: String, anonymous: Bool) throws -> String {
        let survey = try connection.query(
          """
          INSERT INTO surveys (tenant_id, kind, title, questions, anonymous, anonymity_threshold)
          VALUES ($1::uuid, $2, 'S', '[]', $3::boolean, 5) RETURNING survey_id::text AS id
          """, [tenant, kind, anonymous]
        ).rows[0].require(String.self, "id")
        return try connection.query(
          """
          INSERT INTO survey_rounds (tenant_id, survey_id, number, opens_at, closes_at)
          VALUES ($1::uuid, $2::uuid, 1, now() - interval '2 days', now() - interval '1 day')
          RETURNING round_id::text AS id
          """, [tenant, survey]
        ).rows[0].require(String.self, "id")
      }
      return (try round("enps", anonymous: true), try round("nps", anonymous: false))
    }
    for index in 0..<12 {
      try await pool.withTransaction(tenant: tenant) { connection in
        try connection.query(
          """
          INSERT INTO survey_responses (tenant_id, survey_id, round_id, team, score, answers)
          SELECT tenant_id, survey_id, round_id, 'core', $2::int, jsonb_build_object('score', $2::int)
          FROM survey_rounds WHERE round_id = $1::uuid
          """, [index < 8 ? enpsRound : npsRound, index % 11])
      }
    }
    func rows(_ round: String) async throws -> [String] {
      try await pool.withTransaction(tenant: tenant) { connection in
        try connection.query(
          """
          SELECT xmin::text || ' ' || response_id || ' ' || team || ' ' || score || ' ' || answers::text AS r
          FROM survey_responses WHERE round_id = $1::uuid ORDER BY ctid
          """, [round]
        ).rows.map { try $0.require(String.self, "r") }
      }
    }
    let (anonymousBefore, identifiedBefore) = (try await rows(enpsRound), try await rows(npsRound))

    #expect(
      try Migrator(directory: TestDatabase.migrationsDirectory).migrate(owner).first
        == "0016_reshuffle_anonymous_answers.sql")
    let anonymousAfter = try await rows(enpsRound)
    func field(_ row: String, _ index: Int) -> String { String(row.split(separator: " ")[index]) }
    // One new transaction id for all eight, none of the old ones, new ids; the same answers.
    let xids = Set(anonymousAfter.map { field($0, 0) })
    #expect(xids.count == 1 && xids.isDisjoint(with: anonymousBefore.map { field($0, 0) }))
    #expect(Set(anonymousAfter.map { field($0, 1) }).isDisjoint(with: anonymousBefore.map { field($0, 1) }))
    let content = { (rows: [String]) in rows.map { $0.split(separator: " ").dropFirst(2).joined(separator: " ") } }
    #expect(content(anonymousAfter).sorted() == content(anonymousBefore).sorted() && anonymousAfter.count == 8)
    #expect(try await rows(npsRound) == identifiedBefore)
  }
}
