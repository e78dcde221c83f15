import NIOConcurrencyHelpers
import TallyWire

/// Stores items that arrive while their group's earlier ones are being stored together: one
/// transaction, one round of statements and one commit for many calls (group commit). A call
/// that finds a lane free is stored at once, so a lone call waits for nobody.
final class GroupCommitter<Input: Sendable, Output: Sendable>: Sendable {
  /// Stores one batch of a group: one result per input, in order. It must not throw; an input's
  /// failure is its own result.
  typealias Store = @Sendable (_ group: String, _ batch: [Input]) async -> [Result<Output, any Error>]

  private struct Waiting: Sendable {
    let input: Input
    let reply: CheckedContinuation<Output, any Error>
  }

  private let queue: NIOLockedValueBox<GroupCommitQueue<Waiting>>
  private let store: Store

  init(lanes: Int, maxBatch: Int, store: @escaping Store) {
    self.queue = NIOLockedValueBox(GroupCommitQueue(lanes: lanes, maxBatch: maxBatch))
    self.store = store
  }

  /// Stores `input` with whatever else of `group` is waiting, and returns its own result.
  func submit(_ input: Input, group: String) async throws -> Output {
    try await withCheckedThrowingContinuation { reply in
      let batch = self.queue.withLockedValue { $0.enqueue(Waiting(input: input, reply: reply), group: group) }
      guard let batch else { return }
      Task { await self.drain(group, first: batch) }
    }
  }

  /// One lane: stores its batch, answers each caller, and goes on while items of the group wait.
  private func drain(_ group: String, first: [Waiting]) async {
    var batch = first
    while true {
      let results = await self.store(group, batch.map(\.input))
      for (index, waiting) in batch.enumerated() {
        waiting.reply.resume(
          with: index < results.count
            ? results[index] : .failure(RPCError(code: .internalError, message: "the batch lost an answer")))
      }
      guard let next = self.queue.withLockedValue({ $0.finished(group: group) }) else { return }
      batch = next
    }
  }
}
