import NIOCore
import Testing

@testable import TallyServer

/// A held request message keeps at most `maxUnusedStorage` alive besides its own bytes.
@Suite struct HeldRequestPayloadTests {
  let allocator = ByteBufferAllocator()

  /// `count` bytes sliced out of a buffer the decoder grew to `storage` bytes (or the power of two
  /// above, which the allocator rounds to).
  func slice(_ count: Int, ofStorage storage: Int) -> ByteBuffer {
    var buffer = self.allocator.buffer(capacity: storage)
    buffer.writeRepeatingByte(7, count: storage)
    buffer.moveReaderIndex(forwardBy: 10)
    return buffer.readSlice(length: count)!
  }

  /// A 4 MiB message in the 8 MiB a frame's decoding grew to, or 100 bytes in a megabyte, gets
  /// storage of its own size, bytes unchanged.
  @Test(arguments: [(4 << 20, 8 << 20), (100, 1 << 20), (10_000, 80_000)])
  func aSliceOfMuchLargerStorageIsCopied(count: Int, storage: Int) {
    let payload = self.slice(count, ofStorage: storage)
    #expect(payload.storageCapacity >= storage)
    let held = HeldRequestPayload.holdable(payload, allocator: self.allocator)
    #expect(held == payload)
    #expect(held.storageCapacity < count + HeldRequestPayload.maxUnusedStorage)
  }

  /// The small messages of one 64 KiB read stay slices of it: no copy on the ping path.
  @Test(arguments: [(80, 64 * 1024), (100_000, 128 * 1024), (0, 1024)])
  func aSliceOfStorageNearItsSizeIsKept(count: Int, storage: Int) {
    let payload = self.slice(count, ofStorage: storage)
    let held = HeldRequestPayload.holdable(payload, allocator: self.allocator)
    #expect(held.storageCapacity == payload.storageCapacity)
    let same = payload.withUnsafeReadableBytes { a in
      held.withUnsafeReadableBytes { b in a.baseAddress == b.baseAddress }
    }
    #expect(same)
  }
}
