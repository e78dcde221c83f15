import TallyStore
import TallyTestSupport
import Testing

@Suite struct PostgresArrayTests {
  /// Whatever a value holds, PostgreSQL reads back exactly the values the literal was built from.
  @Test func literalsRoundTripThroughPostgreSQL() async throws {
    let database = try await TestDatabase.create(migrated: false)
    let pool = database.pool(size: 1)
    defer { pool.close() }
    let values: [String?] = [
      "plain", "", nil, "NULL", #"a "quoted" word"#, #"back\slash"#, #"\""#, "comma, {brace} and ;",
      "  spaces  ", "ünïcødé 🎉 中文", "line\nbreak\ttab", String(repeating: "long ", count: 2_000),
    ]
    let literal = PostgresArray.literal(values)
    let read = try await pool.withConnection { connection in
      try connection.query(
        "SELECT value, cardinality($1::text[]) AS count FROM unnest($1::text[]) WITH ORDINALITY AS u(value, n) ORDER BY n",
        [literal]
      ).rows
    }
    #expect(read.count == values.count)
    #expect(try read.map { try $0.decode(String.self, "value") } == values)
  }

  @Test func emptyAndAllNullArrays() {
    #expect(PostgresArray.literal([String?]()) == "{}")
    #expect(PostgresArray.literal([nil, nil]) == "{NULL,NULL}")
    #expect(PostgresArray.literal(["a", #"b"c"#, #"d\e"#]) == #"{"a","b\"c","d\\e"}"#)
  }
}
