import Foundation
import Logging
import Prometheus
import ServiceLifecycle
import TallyCore
import TallyStore
import TallyWire

/// The surveys' work that time starts, once a minute: opens pulse survey rounds on their cadence
/// (within a minute of midnight UTC on their day), and opens the sealed answers of rounds whose
/// closing time passed. Several tallyd may run it at once (see PulseRoundScheduler and
/// SealedRoundOpener).
struct SurveyRoundsTimer: Service {
  let pool: PostgresPool
  let sealingKeys: AnswerSealingKeys
  /// Set to the rounds that did not open at each pass, so that an alert can ask why.
  let unopenedRounds: Gauge
  let logger: Logger
  var interval: Duration = .seconds(60)

  func run() async throws {
    let scheduler = PulseRoundScheduler(pool: self.pool)
    let opener = SealedRoundOpener(pool: self.pool, keys: self.sealingKeys)
    while !Task.isCancelled && !Task.isShuttingDownGracefully {
      do {
        let opened = try await scheduler.openDueRounds(now: Date())
        if opened > 0 { self.logger.info("opened pulse survey rounds", metadata: ["count": "\(opened)"]) }
      } catch {
        self.logger.warning("could not open pulse survey rounds; retrying", metadata: ["error": "\(error)"])
      }
      do {
        let opened = try await opener.openClosedRounds(now: Date())
        self.unopenedRounds.set(to: Double(opened.unopened.count))
        // How many answers a round had is withheld below its threshold: only at debug level.
        if opened.answers > 0 {
          self.logger.debug("opened the sealed answers of closed rounds", metadata: ["answers": "\(opened.answers)"])
        }
        for (tenant, round) in opened.unopened {
          self.logger.warning(
            "a closed round's sealed answers do not open; they stay sealed",
            metadata: ["tenant_id": "\(tenant)", "round_id": "\(round.roundID)", "error": "\(round.error.message)"])
        }
      } catch {
        self.logger.warning(
          "could not open the sealed answers of closed rounds; retrying", metadata: ["error": "\(error)"])
      }
      try? await cancelWhenGracefulShutdown { try await Task.sleep(for: self.interval) }
    }
  }
}
