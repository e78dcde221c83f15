import Foundation
import Logging
import NIOConcurrencyHelpers
import TallyStore
import TallyTestSupport
import Testing

/// `tallyd kpi-sql`'s replay: the statements a transaction sent, run again by psql with the same
/// values, each replay timed.
@Suite struct PsqlReplayScriptTests {
  @Test func literalsQuoteQuotesAndKeepNull() {
    #expect(PsqlReplayScript.literal("it's") == "'it''s'")
    #expect(PsqlReplayScript.literal(#"back\slash"#) == #"'back\slash'"#)
    #expect(PsqlReplayScript.literal(nil) == "NULL")
  }

  @Test func aRecordedTransactionReplaysThroughPsqlWithItsValues() async throws {
    let database = try await TestDatabase.create(migrated: false)
    let recorded = NIOLockedValueBox<[PostgresStatement]>([])
    let pool = PostgresPool(
      configuration: .init(conninfo: database.ownerURL, size: 1) { statement in
        recorded.withLockedValue { $0.append(statement) }
      },
      logger: Logger(label: "test"))
    defer { pool.close() }
    try await pool.withTransaction(tenant: nil) { connection in
      try connection.execute("CREATE TEMP TABLE replayed (text text, number int) ON COMMIT DROP")
      try connection.query("INSERT INTO replayed VALUES ($1, $2)", ["it's", nil])
      try connection.query("INSERT INTO replayed VALUES ($1, $2)", ["twice", 2])
      try connection.query("SELECT count(*) AS n FROM replayed WHERE text = $1 AND number IS NULL", ["it's"])
    }
    let statements = recorded.withLockedValue { $0 }
    let script = PsqlReplayScript(statements, iterations: 3, title: "test").text
    // The INSERT is prepared once though it ran twice; every replay runs all six statements.
    #expect(script.components(separatedBy: "PREPARE ").count - 1 == 2)
    #expect(script.components(separatedBy: "\\echo iteration").count - 1 == 3)

    let file = FileManager.default.temporaryDirectory.appendingPathComponent("replay-\(UUID()).sql")
    try (script + "\n\\timing off\nSELECT 'rows ' || count(*) FROM pg_prepared_statements;\n").write(
      to: file, atomically: true, encoding: .utf8)
    defer { try? FileManager.default.removeItem(at: file) }
    let output = try Self.psql(database.ownerURL, file.path)
    let lines = output.split(separator: "\n")
    #expect(lines.filter { $0 == "iteration" }.count == 3)
    // BEGIN, CREATE, 2 INSERTs, SELECT and COMMIT each replay, and the first one's 2 PREPAREs.
    #expect(lines.filter { $0.hasPrefix("Time: ") }.count == 3 * 6 + 2)
    // The SELECT found the row the first INSERT wrote with a quote and a NULL, in every replay.
    #expect(lines.filter { $0 == "1" }.count == 3)
    #expect(lines.contains("rows 2"))
  }

  static func psql(_ url: String, _ path: String) throws -> String {
    let process = Process()
    let output = Pipe()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["psql", "-X", "-q", "-At", "-d", url, "-f", path]
    process.standardOutput = output
    try process.run()
    let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    #expect(process.terminationStatus == 0)
    return text
  }
}
