import TallyWire

extension RPCError {
  /// This error as the end of a client stream whose first `stored` messages were committed, each
  /// in its own transaction: the client learns what stays, and so where to start again.
  func endingStream(afterStoring stored: UInt32) -> RPCError {
    guard stored > 0, self.code != .cancelled else { return self }
    var error = self
    let messages = stored == 1 ? "message (0) was" : "\(stored) messages (0 to \(stored - 1)) were"
    error.message += "; this stream's first \(messages) stored before it"
    return error
  }
}
