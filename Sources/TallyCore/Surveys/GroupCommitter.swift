import NIOConcurrencyHelpers
import TallyWire

/// Stores items that arrive while their group's earlier ones are being stored together: one
/// transaction, one round of statements and one commit for many calls (group commit). A call
/// that finds nothing of its group running statements is stored at once, so a lone call waits
/// for nobody; a batch that is committing lets the next one start once enough items wait, so the
/// WAL flush of one batch overlaps the statements of the next.
final class GroupCommitter<Input: Sendable, Output: Sendable>: Sendable {
  /// Stores one batch of a group: one result per input, in order. It must not throw; an input's
  /// failure is its own result. It calls `committing` once it has sent the statement that commits
  /// (or not at all: the batch then counts as committing when the store returns).
  typealias Store =
    @Sendable (_ group: String, _ batch: [Input], _ committing: @escaping @Sendable () -> Void) async
    -> [Result<Output, any Error>]

  private struct Waiting: Sendable {
    let input: Input
    let reply: CheckedContinuation<Output, any Error>
    /// Its caller, to find it again when the caller gives up.
    let ticket: Ticket
  }

  private final class Ticket: Sendable {}

  private let queue: NIOLockedValueBox<GroupCommitQueue<Waiting>>
  private let store: Store

  init(maxInFlight: Int, maxBatch: Int, minBatchBesideCommit: Int = 1, store: @escaping Store) {
    self.queue = NIOLockedValueBox(
      GroupCommitQueue(maxInFlight: maxInFlight, maxBatch: maxBatch, minBatchBesideCommit: minBatchBesideCommit))
    self.store = store
  }

  /// Stores `input` with whatever else of `group` is waiting, and returns its own result. A caller
  /// cancelled while its input waits (CANCEL, a deadline) takes it back: the client was told the
  /// call ended, so it must not be stored behind its back. Once a batch has it, it is stored.
  func submit(_ input: Input, group: String) async throws -> Output {
    let ticket = Ticket()
    return try await withTaskCancellationHandler {
      try await withCheckedThrowingContinuation { reply in
        // Checked under the lock that the cancellation handler takes: either the input is never
        // enqueued, or the handler finds it waiting (or in a batch).
        let enqueued = self.queue.withLockedValue { queue -> (batch: [Waiting]?, cancelled: Bool) in
          guard !Task.isCancelled else { return (nil, true) }
          return (queue.enqueue(Waiting(input: input, reply: reply, ticket: ticket), group: group), false)
        }
        if enqueued.cancelled { return reply.resume(throwing: Self.withdrawn) }
        guard let batch = enqueued.batch else { return }
        self.start(group, batch)
      }
    } onCancel: {
      let withdrawn = self.queue.withLockedValue { $0.withdraw(group: group) { $0.ticket === ticket } }
      withdrawn?.reply.resume(throwing: Self.withdrawn)
    }
  }

  private static var withdrawn: RPCError {
    RPCError(code: .cancelled, message: "the call ended before it was stored")
  }

  /// Items of `group` waiting for a batch (for tests).
  func waiting(group: String) -> Int { self.queue.withLockedValue { $0.waiting(group: group) } }

  private func start(_ group: String, _ batch: [Waiting]) {
    Task { await self.drain(group, first: batch) }
  }

  /// Stores its batch, answers each caller, and goes on while items of the group wait and no other
  /// batch has taken them.
  private func drain(_ group: String, first: [Waiting]) async {
    var batch = first
    while true {
      let signalled = NIOLockedValueBox(false)
      let committing: @Sendable () -> Void = {
        let first = signalled.withLockedValue { done in
          defer { done = true }
          return !done
        }
        guard first else { return }
        if let next = self.queue.withLockedValue({ $0.committing(group: group) }) { self.start(group, next) }
      }
      let results = await self.store(group, batch.map(\.input), committing)
      committing()
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
