import Foundation
import TallyStore
import TallyTestSupport
import TallyWire
import Testing

@testable import TallyStore

/// A foreign key's refusal tells the client which of its columns named what no longer exists,
/// and never the row's values.
@Suite struct ForeignKeyErrorTests {
  @Test func aMissingReferenceNamesItsColumnAndTableButNoValue() async throws {
    let database = try await TestDatabase.create()
    let pool = database.pool()
    defer { pool.close() }
    let tenant = UUID().uuidString.lowercased()
    let error = await #expect(throws: RPCError.self) {
      try await pool.withTransaction(tenant: tenant) { connection in
        try connection.query("INSERT INTO tenants (tenant_id, name, currency) VALUES ($1::uuid, 'T', 'EUR')", [tenant])
        try connection.query(
          "INSERT INTO contacts (tenant_id, contact_id, account_id) VALUES ($1::uuid, 'c1', 'ghost-account')", [tenant])
      }
    }
    #expect(error?.code == .failedPrecondition)
    #expect(error?.message == "account_id names no item in accounts (it may have been deleted while this call ran)")
    #expect(error?.message.contains("ghost") == false)
  }

  /// libpq takes parameters as C strings: a NUL would cut a value short and match another row. One
  /// that no field check caught is refused as the client's fault, and nothing runs.
  @Test func aParameterWithANulIsRefusedNotCut() async throws {
    let database = try await TestDatabase.create()
    let pool = database.pool()
    defer { pool.close() }
    let error = await #expect(throws: RPCError.self) {
      try await pool.withTransaction(scope: .operator) { connection in
        try connection.query("SELECT $1::text AS v", ["tally\u{0}zzz"])
      }
    }
    #expect(error?.code == .invalidArgument)
    let kept = try await pool.withTransaction(scope: .operator) { connection in
      try connection.query("SELECT $1::text AS v", ["tally"]).rows[0].require(String.self, "v")
    }
    #expect(kept == "tally")
  }

  /// The NUL is found wherever it sits in a long value, and a value of multi-byte characters with
  /// none goes through whole.
  @Test func aNulAnywhereInALongParameterIsFound() async throws {
    let database = try await TestDatabase.create()
    let pool = database.pool()
    defer { pool.close() }
    let long = String(repeating: "zé€", count: 40_000)
    for value in ["\u{0}" + long, long + "\u{0}", long.prefix(50_001) + "\u{0}" + long, "\u{0}"] {
      let error = await #expect(throws: RPCError.self) {
        try await pool.withTransaction(scope: .operator) { connection in
          try connection.query("SELECT $1::text AS v", [String(value)])
        }
      }
      #expect(error?.code == .invalidArgument, "\(value.utf8.count) bytes")
    }
    let kept = try await pool.withTransaction(scope: .operator) { connection in
      try connection.query("SELECT $1::text AS v", [long]).rows[0].require(String.self, "v")
    }
    #expect(kept == long)
  }

  @Test func detailsItCannotReadGiveAPlainerMessage() {
    func message(_ detail: String?, table: String? = "contacts", constraint: String? = nil) -> String {
      var error = PostgresError(sqlState: "23503", message: "violates foreign key constraint", detail: detail)
      (error.table, error.constraint) = (table, constraint)
      return error.foreignKeyMessage
    }
    #expect(
      message(#"Key (tenant_id, account_id)=(0f, a"b) is still referenced from table "contacts"."#, table: "accounts")
        == "the item is still referenced from contacts")
    #expect(
      message(#"Key is not present in table "accounts"."#, constraint: "a_custom_name")
        == "an item in accounts that the request names does not exist")
    for detail in [nil, "", "Schlüssel ist nicht in Tabelle »accounts« vorhanden."] {
      #expect(message(detail) == "a referenced item does not exist", "\(String(describing: detail))")
    }
  }
}
