import Foundation
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

  /// A bytea[] sent in binary reads back byte for byte, NULLs and empty elements kept; its text
  /// form (what a psql replay sends) reads back the same. Each transaction's first statement goes
  /// in a pipeline with BEGIN, the second on its own: both send it.
  @Test func byteaArraysRoundTripInBinaryAndAsText() async throws {
    let database = try await TestDatabase.create(migrated: false)
    let pool = database.pool(size: 1)
    defer { pool.close() }
    let large = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
    let cases: [[[UInt8]?]] = [
      [[0, 1, 2, 255], nil, [], Array(#"a "quoted", {back\slash}"#.utf8), large, [0]],
      [], [nil], [[]],
    ]
    let sql = """
      SELECT x IS NULL AS null, coalesce(encode(x, 'hex'), '') AS hex
      FROM unnest($1::bytea[]) WITH ORDINALITY AS u(x, n) ORDER BY n
      """
    func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
    for elements in cases {
      let array = PostgresByteaArray(elements)
      let expected = elements.map { $0.map(hex) ?? "NULL" }
      for parameter in [array as any PostgresBindable, array.postgresText] {
        let reads = try await pool.withTransaction(scope: .operator) { connection in
          try (0..<2).map { _ in
            try connection.query(sql, [parameter]).rows.map {
              try $0.require(Bool.self, "null") ? "NULL" : try $0.require(String.self, "hex")
            }
          }
        }
        #expect(reads == [expected, expected], "\(elements.count) elements, \(type(of: parameter))")
      }
    }
  }

  @Test func emptyAndAllNullArrays() {
    #expect(PostgresArray.literal([String?]()) == "{}")
    #expect(PostgresArray.literal([nil, nil]) == "{NULL,NULL}")
    #expect(PostgresArray.literal(["a", #"b"c"#, #"d\e"#]) == #"{"a","b\"c","d\\e"}"#)
  }
}
