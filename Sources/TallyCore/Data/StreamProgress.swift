import TallyWire

extension RPCError {
  /// This error as the end of a client stream whose first `stored` messages were committed, each
  /// in its own transaction: the client learns what stays, and so where to start again.
  func endingStream(afterStoring stored: UInt32) -> RPCError {
    guard stored > 0, self.code != .cancelled else { return self }
    var error = self
    error.message += StreamStored.suffix(stored)
    return error
  }
}
