import TallyTestSupport
import Testing

@testable import TallyStore

/// The prepared statements a connection keeps: a budget, the least recently used out first, and
/// the server told to forget them.
@Suite struct PreparedStatementsTests {
  @Test func theLeastRecentlyUsedGoFirstWhenPastTheCount() {
    var statements = PreparedStatements(budget: .init(statements: 2, textBytes: 1_000))
    for sql in ["A", "B"] { statements.add(sql, as: statements.newName()) }
    #expect(statements.name(of: "A") == "tally_1")
    statements.add("C", as: statements.newName())
    #expect(statements.takeEvicted() == ["tally_2"], "B was used last longest ago")
    #expect(statements.name(of: "B") == nil && statements.name(of: "A") == "tally_1")
    #expect(statements.name(of: "C") == "tally_3", "a name is never given twice")
    #expect(statements.evicted.isEmpty)
  }

  @Test func textPastTheBudgetEvictsTooButNeverTheNewStatement() {
    var statements = PreparedStatements(budget: .init(statements: 100, textBytes: 10))
    statements.add("12345", as: statements.newName())
    statements.add("678", as: statements.newName())
    #expect(statements.evicted.isEmpty)
    statements.add("abcdef", as: statements.newName())
    #expect(statements.takeEvicted() == ["tally_1"])
    statements.add(String(repeating: "x", count: 50), as: statements.newName())
    #expect(statements.takeEvicted() == ["tally_2", "tally_3"])
    #expect(statements.count == 1, "alone past the budget, it stays until the next")
  }

  /// On a real connection: past its budget the server holds no more statements than it keeps,
  /// plus those evicted by the last one (deallocated before the next statement, outside a
  /// transaction), and a statement evicted earlier is prepared again when it comes back.
  @Test func theServerForgetsEvictedStatements() async throws {
    let database = try await TestDatabase.create(migrated: false)
    let (held, counts, again, heldAfter) = try await onOwnThread {
      let connection = try PostgresConnection(
        conninfo: database.appURL, statementBudget: .init(statements: 3, textBytes: 1 << 20))
      defer { connection.close() }
      let count = "SELECT count(*)::int8 AS held FROM pg_prepared_statements"
      for number in 1...6 { _ = try connection.query("SELECT \(number)::int8 AS n") }
      let held = try connection.query(count).rows[0].require(Int64.self, "held")
      let counts = connection.preparedStatementCounts
      let again = try connection.query("SELECT 1::int8 AS n").rows[0].require(Int64.self, "n")
      let heldAfter = try connection.query(count).rows[0].require(Int64.self, "held")
      return (held, counts, again, heldAfter)
    }
    // Kept: 5, 6 and the count; the 4 it evicted waits for the next statement.
    #expect(held == 4)
    #expect(counts.kept == 3 && counts.toDeallocate == 1)
    #expect(again == 1)
    // "SELECT 1" came back (evicting 5); the count, a statement kept, sent that DEALLOCATE first.
    #expect(heldAfter == 3, "no more than the budget once the last eviction is sent")
  }

  /// A statement whose result type changed under it (another server's migration altered a column
  /// it returns) fails once and is prepared again at its next use: it failed every time, on every
  /// connection that had prepared it, until the connection closed.
  @Test func aStatementWhoseResultTypeChangedIsPreparedAgain() async throws {
    let database = try await TestDatabase.create(migrated: false)
    let (first, stale, again) = try await onOwnThread {
      let owner = try PostgresConnection(conninfo: database.ownerURL)
      defer { owner.close() }
      try owner.execute(
        "CREATE TABLE plan_types (x int); INSERT INTO plan_types VALUES (7); GRANT SELECT ON plan_types TO PUBLIC")
      let connection = try PostgresConnection(conninfo: database.appURL)
      defer { connection.close() }
      let first = try connection.query("SELECT x FROM plan_types").rows.count
      try owner.execute("ALTER TABLE plan_types ALTER x TYPE bigint")
      var stale: String?
      do {
        _ = try connection.query("SELECT x FROM plan_types")
      } catch let error as PostgresError {
        stale = error.sqlState
      }
      let again = try connection.query("SELECT x FROM plan_types").rows.count
      return (first, stale, again)
    }
    #expect(first == 1)
    #expect(stale == "0A000", "the plan prepared before the change ran")
    #expect(again == 1)
  }
}
