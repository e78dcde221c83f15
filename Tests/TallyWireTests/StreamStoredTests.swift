import TallyWire
import Testing

/// A client reads back what the server said of a failed stream's stored messages.
@Suite struct StreamStoredTests {
  @Test(arguments: [1, 2, 37] as [UInt32])
  func theCountComesBackFromTheMessage(_ stored: UInt32) {
    #expect(StreamStored.messages(in: "the database is unavailable" + StreamStored.suffix(stored)) == stored)
  }

  @Test(arguments: [
    "the database is unavailable",
    "; this stream's first 3 messages (0 to 9) were stored before it",
    "; this stream's first x messages were stored before it",
    "; this stream's first 2 messages (0 to 1) were stored before it, and more",
  ])
  func aMessageWithoutTheSuffixSaysNothing(_ message: String) {
    #expect(StreamStored.messages(in: message) == nil)
  }
}
