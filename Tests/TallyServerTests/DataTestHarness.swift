import Foundation
import Logging
import Prometheus
import SwiftProtobuf
import Synchronization
import TallyClient
import TallyCore
import TallyProto
import TallyServer
import TallyStore
import TallyTestSupport
import TallyWire
import Testing

/// A server with the admin and ABM data services on a fresh database, two tenants, and clients for each.
struct DataTestContext {
  let server: TestServer
  let pool: PostgresPool
  let operatorClient: TallyClient
  let tenantA: String
  let tenantB: String
  /// Read and write keys of tenant A and tenant B.
  let clientA: TallyClient
  let clientB: TallyClient
  /// A read-only key of tenant A.
  let readerA: TallyClient
  /// `collect`-only keys (survey answers) of tenant A and tenant B.
  let collectorA: TallyClient
  let collectorB: TallyClient
  /// The survey service's clock.
  let clock: TestClock
  /// The survey service's answer-sealing keys (one).
  let sealingKeys: AnswerSealingKeys
  /// Where RecordEvents counts the events it stores, repeats and rejects.
  let ingestMetrics: PrometheusCollectorRegistry
  /// The database's owner role, for tests that change the schema (a trigger that fails, say).
  let ownerURL: String
  /// The runtime role's URL, whose own backends a test may end (a connection lost, say).
  let appURL: String

  static func with<T>(_ body: (DataTestContext) async throws -> T) async throws -> T {
    let database = try await TestDatabase.create()
    let pool = database.pool()
    defer { pool.close() }
    let operatorKey = try database.createOperatorKey()
    let authenticator = DatabaseAuthenticator(pool: pool, recheckInterval: .zero)
    let clock = TestClock()
    let sealingKeys = AnswerSealingKeys(current: .random())
    let ingestMetrics = PrometheusCollectorRegistry()
    func register(_ router: inout Router) {
      AdminService(pool: pool).register(into: &router)
      ABMDataServices(pool: pool, ingestCounters: IngestCounters(registry: ingestMetrics)).register(into: &router)
      SurveyService(pool: pool, sealingKeys: sealingKeys, clock: { clock.now }).register(into: &router)
      KpiService(pool: pool).register(into: &router)
      router.replayRepeatedWrites(IdempotentCalls(pool: pool))
    }
    return try await TestServer.with(authenticator: authenticator, services: register) { server, _ in
      let operatorClient = try server.client(apiKey: operatorKey)
      func tenant(_ name: String) async throws -> String {
        var request = Tally_V1_CreateTenantRequest()
        request.name = name
        request.currency = "EUR"
        return try await operatorClient.unary(AdminMethods.createTenant, request).tenantID
      }
      func key(_ tenant: String, _ scopes: [String]) async throws -> TallyClient {
        var request = Tally_V1_CreateApiKeyRequest()
        request.tenantID = tenant
        request.name = "test"
        request.scopes = scopes
        return try server.client(apiKey: try await operatorClient.unary(AdminMethods.createApiKey, request).key)
      }
      let tenantA = try await tenant("Tenant A")
      let tenantB = try await tenant("Tenant B")
      let context = DataTestContext(
        server: server, pool: pool, operatorClient: operatorClient, tenantA: tenantA, tenantB: tenantB,
        clientA: try await key(tenantA, ["read", "write"]), clientB: try await key(tenantB, ["read", "write"]),
        readerA: try await key(tenantA, ["read"]), collectorA: try await key(tenantA, ["collect"]),
        collectorB: try await key(tenantB, ["collect"]), clock: clock, sealingKeys: sealingKeys,
        ingestMetrics: ingestMetrics, ownerURL: database.ownerURL, appURL: database.appURL
      )
      do {
        let result = try await body(context)
        await context.closeAll()
        return result
      } catch {
        await context.closeAll()
        throw error
      }
    }
  }

  /// A quiet pool of one connection to this context's database, for a test that must know which
  /// connection ran its statements. The caller closes it.
  func singleConnectionPool() -> PostgresPool {
    var logger = Logger(label: "test")
    logger.logLevel = .critical
    return PostgresPool(configuration: .init(conninfo: self.appURL, size: 1), logger: logger)
  }

  private func closeAll() async {
    for client in [self.operatorClient, self.clientA, self.clientB, self.readerA, self.collectorA, self.collectorB] {
      await client.close()
    }
  }
}

/// Builders for test data.
enum Fixture {
  static func time(_ iso: String) -> Google_Protobuf_Timestamp {
    let formatter = ISO8601DateFormatter()
    return Google_Protobuf_Timestamp(date: formatter.date(from: iso)!)
  }

  static func account(_ id: String, tier: UInt32 = 1, name: String? = nil) -> Tally_V1_Account {
    var account = Tally_V1_Account()
    account.id = id
    account.name = name ?? "Account \(id)"
    account.tier = tier
    return account
  }

  static func contact(_ id: String, account: String, role: String = "champion") -> Tally_V1_Contact {
    var contact = Tally_V1_Contact()
    contact.id = id
    contact.accountID = account
    contact.name = "Contact \(id)"
    contact.email = "\(id)@example.com"
    contact.role = role
    return contact
  }

  static func campaign(_ id: String, channel: String = "email") -> Tally_V1_Campaign {
    var campaign = Tally_V1_Campaign()
    campaign.id = id
    campaign.name = "Campaign \(id)"
    campaign.channel = channel
    campaign.startsAt = time("2026-01-01T00:00:00Z")
    return campaign
  }

  static func event(_ key: String, type: String = "email_opened", at iso: String = "2026-03-01T10:00:00Z")
    -> Tally_V1_Event
  {
    var event = Tally_V1_Event()
    event.key = key
    event.type = type
    event.occurredAt = time(iso)
    event.accountID = "acme"
    return event
  }

  static func apiKey(_ name: String, tenant: String, scopes: [String]) -> Tally_V1_CreateApiKeyRequest {
    var request = Tally_V1_CreateApiKeyRequest()
    request.tenantID = tenant
    request.name = name
    request.scopes = scopes
    return request
  }

  static func upsert(_ account: Tally_V1_Account) -> Tally_V1_UpsertAccountRequest {
    var request = Tally_V1_UpsertAccountRequest()
    request.account = account
    return request
  }

  static func upsert(_ contact: Tally_V1_Contact) -> Tally_V1_UpsertContactRequest {
    var request = Tally_V1_UpsertContactRequest()
    request.contact = contact
    return request
  }

  static func upsert(_ campaign: Tally_V1_Campaign) -> Tally_V1_UpsertCampaignRequest {
    var request = Tally_V1_UpsertCampaignRequest()
    request.campaign = campaign
    return request
  }

  static func upsert(_ opportunity: Tally_V1_Opportunity) -> Tally_V1_UpsertOpportunityRequest {
    var request = Tally_V1_UpsertOpportunityRequest()
    request.opportunity = opportunity
    return request
  }
}

/// Expects INVALID_ARGUMENT whose first field violation names `field`.
func expectViolation<T>(
  _ field: String,
  sourceLocation: SourceLocation = #_sourceLocation,
  _ body: () async throws -> T
) async {
  let error = await expectStatus(.invalidArgument, sourceLocation: sourceLocation, body)
  #expect(error?.fieldViolations.first?.field == field, "\(String(describing: error))", sourceLocation: sourceLocation)
}

/// A clock that runs with the real one, moved by hand: it keeps an offset from the real time.
final class TestClock: Sendable {
  private let offset = Mutex<TimeInterval>(0)

  var now: Date { Date().addingTimeInterval(self.offset.withLock { $0 }) }

  func advance(by seconds: TimeInterval) { self.offset.withLock { $0 += seconds } }

  func set(_ date: Date) { self.offset.withLock { $0 = date.timeIntervalSinceNow } }
}

/// Event calls that many suites make.
extension TallyClient {
  /// Records `events` in one message.
  func record(_ events: [Tally_V1_Event]) async throws -> Tally_V1_RecordEventsResponse {
    try await self.clientStreaming(EventMethods.recordEvents) { writer in
      var request = Tally_V1_RecordEventsRequest()
      request.events = events
      try await writer.send(request)
    }
  }

  /// Every event `request` selects, over all messages of the stream.
  func events(_ request: Tally_V1_ListEventsRequest = .init()) async throws -> [Tally_V1_Event] {
    try await self.serverStreaming(EventMethods.listEvents, request) { responses in
      var events: [Tally_V1_Event] = []
      for try await chunk in responses { events += chunk.events }
      return events
    }
  }
}
