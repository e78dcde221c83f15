import Foundation
import Logging
import ServiceLifecycle
import TallyCore
import TallyStore

/// Opens pulse survey rounds on their cadence: checks every minute, so a round opens within a
/// minute of midnight UTC on its day. Several tallyd may run it at once (see PulseRoundScheduler).
struct PulseRounds: Service {
  let pool: PostgresPool
  let logger: Logger
  var interval: Duration = .seconds(60)

  func run() async throws {
    let scheduler = PulseRoundScheduler(pool: self.pool)
    while !Task.isCancelled && !Task.isShuttingDownGracefully {
      do {
        let opened = try await scheduler.openDueRounds(now: Date())
        if opened > 0 { self.logger.info("opened pulse survey rounds", metadata: ["count": "\(opened)"]) }
      } catch {
        self.logger.warning("could not open pulse survey rounds; retrying", metadata: ["error": "\(error)"])
      }
      try? await cancelWhenGracefulShutdown { try await Task.sleep(for: self.interval) }
    }
  }
}
