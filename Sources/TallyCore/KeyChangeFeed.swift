import Foundation
public import Logging
public import TallyStore

/// The database's key changes (migration 0029: a key revoked, a tenant suspended, by any tallyd or
/// by hand) handed to an authenticator as they commit, so that every server refuses the key's next
/// call; the authenticator's 2 s re-check stays as the fallback while notifications are lost.
public struct KeyChangeFeed: Sendable {
  public let listener: PostgresNotificationListener

  public init(conninfo: String, authenticator: DatabaseAuthenticator, logger: Logger) {
    self.listener = PostgresNotificationListener(
      configuration: .init(conninfo: conninfo, channel: KeyChange.channel), logger: logger,
      onPayload: { authenticator.forget(KeyChange(payload: $0)) }, onGap: { authenticator.forget(.everything) })
  }

  /// Listens, on a thread of its own (the listener blocks in poll() between notifications), until
  /// the calling task is cancelled.
  public func run() async {
    let listener = self.listener
    await withTaskCancellationHandler {
      await withCheckedContinuation { (finished: CheckedContinuation<Void, Never>) in
        let thread = Thread {
          listener.run()
          finished.resume()
        }
        thread.name = "tally-key-changes"
        thread.start()
      }
    } onCancel: {
      listener.stop()
    }
  }
}
