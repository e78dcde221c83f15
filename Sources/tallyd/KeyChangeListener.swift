import ServiceLifecycle
import TallyCore

/// `KeyChangeFeed` as one of tallyd's services: it stops with the others.
struct KeyChangeListener: Service {
  let feed: KeyChangeFeed

  func run() async throws {
    await cancelWhenGracefulShutdown { await self.feed.run() }
  }
}
