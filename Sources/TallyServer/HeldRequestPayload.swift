import NIOCore

/// A request message the server holds until its call is done with it, in storage of its own size.
///
/// A frame's payload is a slice of the read or decoding buffer it arrived in, and keeps all of that
/// storage alive: a 4 MiB message in the 8 MiB the decoder grew to, or a few bytes pinning a
/// megabyte that a finished call's frame filled. The held-bytes budgets count the message's bytes,
/// so a slice that would pin more than `maxUnusedStorage` besides them is copied out first.
enum HeldRequestPayload {
  /// Storage a held message may keep alive beyond its own bytes: a read buffer's worth, so that
  /// the small messages of one read (pings, answers) stay slices of it and cost no copy.
  static let maxUnusedStorage = 64 * 1024

  /// `payload`, or a copy of it in storage of its own size when its storage is larger than its
  /// bytes by more than `maxUnusedStorage`.
  static func holdable(_ payload: ByteBuffer, allocator: ByteBufferAllocator) -> ByteBuffer {
    guard payload.storageCapacity - payload.readableBytes > Self.maxUnusedStorage else { return payload }
    var copy = allocator.buffer(capacity: payload.readableBytes)
    copy.writeImmutableBuffer(payload)
    return copy
  }
}
