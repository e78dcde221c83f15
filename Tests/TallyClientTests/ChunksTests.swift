import Testing

@testable import TallyClient

/// The request-sized chunks the demo loader sends.
@Suite struct ChunksTests {
  @Test func chunksKeepEveryElementInOrderWithinTheLimit() {
    #expect([Int]().chunks(of: 3).isEmpty)
    let values = Array(0..<10)
    #expect(values.chunks(of: 3).map(Array.init) == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]])
    #expect(values.chunks(of: 5).map(Array.init) == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]])
    #expect(values.chunks(of: 25).map(Array.init) == [values])
  }
}
