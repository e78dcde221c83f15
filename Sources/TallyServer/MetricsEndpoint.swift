public import Logging
public import NIOCore
import NIOHTTP1
public import NIOPosix
public import ServiceLifecycle

/// Serves `GET /metrics` in Prometheus's text format over plain HTTP, apart from the RPC port.
///
/// Plain HTTP and no key, as Prometheus scrapes by default: it listens on loopback unless told
/// otherwise, and what it serves names no tenant (`ServerMetrics`).
public final class MetricsEndpoint: Service, Sendable {
  public struct Configuration: Sendable {
    public var host: String
    /// 0 picks a free port; `localAddress` tells which.
    public var port: Int
    /// A connection that has not sent a whole request head this long after it opened, or after
    /// its last answer, is closed: bytes that trickle in do not keep it open.
    public var requestTimeout: Duration
    /// Connections beyond this many are closed at once: scrapers need one or two (0: not limited).
    public var maxConnections: Int

    public init(
      host: String = "127.0.0.1", port: Int = 9464, requestTimeout: Duration = .seconds(30), maxConnections: Int = 16
    ) {
      self.host = host
      self.port = port
      self.requestTimeout = requestTimeout
      self.maxConnections = maxConnections
    }
  }

  private let configuration: Configuration
  private let metrics: ServerMetrics
  private let beforeScrape: @Sendable () -> Void
  private let logger: Logger
  private let group: any EventLoopGroup
  private let boundAddress: EventLoopPromise<SocketAddress>

  /// `beforeScrape` runs before each answer, to set the gauges of what the server does not count
  /// itself (the database pool's connections, for one).
  public init(
    configuration: Configuration,
    metrics: ServerMetrics,
    logger: Logger,
    eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
    beforeScrape: @escaping @Sendable () -> Void = {}
  ) {
    self.configuration = configuration
    self.metrics = metrics
    self.beforeScrape = beforeScrape
    self.logger = logger
    self.group = eventLoopGroup
    self.boundAddress = eventLoopGroup.next().makePromise(of: SocketAddress.self)
  }

  /// The address the endpoint listens on, once it does.
  public var localAddress: SocketAddress {
    get async throws { try await self.boundAddress.futureResult.get() }
  }

  public func run() async throws {
    let metrics = self.metrics
    let beforeScrape = self.beforeScrape
    let requestTimeout = TimeAmount(self.configuration.requestTimeout)
    // One group: every scraper's connection counts against the same limit.
    let scrapers = ConnectionCounts<Bool>(limit: self.configuration.maxConnections)
    let channel: any Channel
    do {
      channel = try await ServerBootstrap(group: self.group)
        .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
        .childChannelInitializer { channel in
          channel.eventLoop.makeCompletedFuture {
            if let scrapers {
              guard scrapers.open(true) else { return channel.close(promise: nil) }
              channel.closeFuture.whenComplete { _ in scrapers.close(true) }
            }
            let pipeline = channel.pipeline.syncOperations
            try pipeline.configureHTTPServerPipeline(withErrorHandling: true)
            try pipeline.addHandler(
              MetricsRequestHandler(metrics: metrics, requestTimeout: requestTimeout, beforeScrape: beforeScrape))
          }
        }
        .bind(host: self.configuration.host, port: self.configuration.port).get()
    } catch {
      self.logger.error(
        "metrics not served: cannot listen",
        metadata: ["address": "\(self.configuration.host):\(self.configuration.port)", "error": "\(error)"])
      self.boundAddress.fail(error)
      throw error
    }
    if let address = channel.localAddress { self.boundAddress.succeed(address) }
    self.logger.info(
      "metrics listening", metadata: ["address": "\(channel.localAddress.map { "\($0)" } ?? "?")", "path": "/metrics"])
    if !["127.0.0.1", "::1", "localhost"].contains(self.configuration.host) {
      self.logger.warning(
        "metrics served beyond loopback, over plain HTTP and without a key: let only the scraper reach them",
        metadata: ["host": "\(self.configuration.host)"])
    }
    try await withTaskCancellationOrGracefulShutdownHandler {
      try await channel.closeFuture.get()
    } onCancelOrGracefulShutdown: {
      channel.close(promise: nil)
    }
  }
}
