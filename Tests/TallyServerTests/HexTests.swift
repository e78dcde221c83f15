import Crypto
import TallyStore
import Testing

@testable import TallyCore

/// The hex of token hashes and key ids, and the random bytes behind tokens and keys.
@Suite struct HexTests {
  @Test func encodesEveryByteAsTwoLowercaseDigits() {
    #expect(Hex.encode([]) == "")
    #expect(Hex.encode([0x00, 0x0f, 0x10, 0xa5, 0xff]) == "000f10a5ff")
    // FIPS 180-2's example: SHA-256 of "abc", the shape of every stored token hash.
    #expect(
      Hex.encode(SHA256.hash(data: Array("abc".utf8)))
        == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    #expect(SurveyService.hashHex("abc") == Hex.encode(SHA256.hash(data: Array("abc".utf8))))
  }

  @Test func randomBytesHaveTheAskedLengthAndDiffer() {
    for count in [0, 1, 7, 8, 9, 24, 32, 256, 257, 1000] { #expect(SecureRandom.bytes(count).count == count) }
    let draws = (0..<100).map { _ in SecureRandom.bytes(24) }
    #expect(Set(draws).count == draws.count)
    // 2,400 bytes drawn: every value of the top four bits turns up (a stuck byte would not).
    #expect(Set(draws.joined().map { $0 >> 4 }).count == 16)
    #expect(AdminService.randomHex(bytes: 32).count == 64)
  }

  @Test func uuidsAreVersionFourInLowerCaseAndDiffer() throws {
    let uuids = (0..<200).map { _ in SecureRandom.uuidString() }
    #expect(Set(uuids).count == uuids.count)
    let shape = try Regex("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
    for uuid in uuids { #expect(uuid.wholeMatch(of: shape) != nil, "\(uuid)") }
    // The random nibbles vary: the thirteenth digit is the version, the rest are drawn.
    #expect(Set(uuids.map { $0.first! }).count > 8)
  }
}
