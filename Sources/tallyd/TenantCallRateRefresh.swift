import Logging
import ServiceLifecycle
import TallyCore
import TallyServer
import TallyStore

/// Hands the tenants' own call rates (SetTenantCallRate) to the server every 2 s, the interval at
/// which a key's check is repeated too (revocations and suspensions come sooner: KeyChangeFeed).
struct TenantCallRateRefresh: Service {
  let pool: PostgresPool
  let server: TallyServer
  let logger: Logger
  var interval: Duration = .seconds(2)

  func run() async throws {
    var failing = false
    while !Task.isCancelled && !Task.isShuttingDownGracefully {
      do {
        self.server.replaceTenantCallRates(try await AdminService.tenantCallRates(self.pool))
        failing = false
      } catch {
        // The rates last read stay in force; one warning per outage, not one every 2 s.
        if !failing { self.logger.warning("could not read the tenants' call rates", metadata: ["error": "\(error)"]) }
        failing = true
      }
      try? await cancelWhenGracefulShutdown { try await Task.sleep(for: self.interval) }
    }
  }
}
