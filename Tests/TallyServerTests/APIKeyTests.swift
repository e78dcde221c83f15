import TallyCore
import Testing

/// `tly_<key id>_<secret>` as HELLO's key is read before any database look-up.
@Suite struct APIKeyTests {
  @Test func issuedKeysParseIntoTheirTwoParts() throws {
    let key = try #require(APIKey(parsing: "tly_0123456789abcdef_" + String(repeating: "f", count: 64)))
    #expect(key.keyID == "0123456789abcdef")
    #expect(key.secret.utf8.count == 64)
  }

  /// A made-up key of megabytes never reaches the query that looks its id up.
  @Test(arguments: [
    "tly_" + String(repeating: "a", count: 65) + "_secret",
    "tly_abc_" + String(repeating: "s", count: 257),
    "tly__secret", "tly_abc_", "tly_ABC_secret", "tlx_abc_secret", "tly_abc",
  ])
  func keysOutsideTheFormAreNotKeys(_ text: String) {
    #expect(APIKey(parsing: text) == nil)
  }

  @Test func theLongestPartsAreTaken() {
    #expect(
      APIKey(parsing: "tly_" + String(repeating: "a", count: 64) + "_" + String(repeating: "s", count: 256)) != nil)
  }
}
