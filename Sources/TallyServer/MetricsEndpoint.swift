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
    /// A scraper's connection idle this long is closed.
    public var idleTimeout: Duration

    public init(host: String = "127.0.0.1", port: Int = 9464, idleTimeout: Duration = .seconds(60)) {
      self.host = host
      self.port = port
      self.idleTimeout = idleTimeout
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
    let idleTimeout = TimeAmount(self.configuration.idleTimeout)
    let channel: any Channel
    do {
      channel = try await ServerBootstrap(group: self.group)
        .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
        .childChannelInitializer { channel in
          channel.eventLoop.makeCompletedFuture {
            let pipeline = channel.pipeline.syncOperations
            try pipeline.addHandler(IdleStateHandler(allTimeout: idleTimeout))
            try pipeline.configureHTTPServerPipeline(withErrorHandling: true)
            try pipeline.addHandler(MetricsRequestHandler(metrics: metrics, beforeScrape: beforeScrape))
          }
        }
        .bind(host: self.configuration.host, port: self.configuration.port).get()
    } catch {
      self.boundAddress.fail(error)
      throw error
    }
    if let address = channel.localAddress { self.boundAddress.succeed(address) }
    self.logger.info(
      "metrics listening", metadata: ["address": "\(channel.localAddress.map { "\($0)" } ?? "?")", "path": "/metrics"])
    try await withGracefulShutdownHandler {
      try await channel.closeFuture.get()
    } onGracefulShutdown: {
      channel.close(promise: nil)
    }
  }
}

/// Answers each request on a scraper's connection: the metrics for `GET /metrics`, an error for
/// anything else.
private final class MetricsRequestHandler: ChannelInboundHandler {
  typealias InboundIn = HTTPServerRequestPart
  typealias OutboundOut = HTTPServerResponsePart

  private let metrics: ServerMetrics
  private let beforeScrape: @Sendable () -> Void
  private var request: HTTPRequestHead?

  init(metrics: ServerMetrics, beforeScrape: @escaping @Sendable () -> Void) {
    self.metrics = metrics
    self.beforeScrape = beforeScrape
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    switch self.unwrapInboundIn(data) {
    case .head(let head): self.request = head
    case .body: break  // a scrape has no body; any other request's is not read
    case .end:
      guard let head = self.request else { return }
      self.request = nil
      self.respond(to: head, context: context)
    }
  }

  func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
    if event is IdleStateHandler.IdleStateEvent { context.close(promise: nil) }
    context.fireUserInboundEventTriggered(event)
  }

  private func respond(to head: HTTPRequestHead, context: ChannelHandlerContext) {
    let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
    let status: HTTPResponseStatus
    var headers = HTTPHeaders()
    let body: [UInt8]
    if path != "/metrics" {
      status = .notFound
      body = Array("not found: the metrics are at GET /metrics\n".utf8)
    } else if head.method != .GET && head.method != .HEAD {
      status = .methodNotAllowed
      headers.add(name: "Allow", value: "GET, HEAD")
      body = Array("method not allowed: the metrics are read with GET\n".utf8)
    } else {
      self.beforeScrape()
      status = .ok
      headers.add(name: "Content-Type", value: "text/plain; version=0.0.4; charset=utf-8")
      body = self.metrics.exposition()
    }
    if status != .ok { headers.add(name: "Content-Type", value: "text/plain; charset=utf-8") }
    headers.add(name: "Content-Length", value: "\(body.count)")
    let keepAlive = head.isKeepAlive
    if !keepAlive { headers.add(name: "Connection", value: "close") }
    context.write(
      self.wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))),
      promise: nil)
    if head.method != .HEAD {
      context.write(
        self.wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
    }
    let written = context.writeAndFlush(self.wrapOutboundOut(.end(nil)))
    if !keepAlive { written.assumeIsolated().whenComplete { _ in context.close(promise: nil) } }
  }
}
