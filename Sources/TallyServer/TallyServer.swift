public import Logging
import NIOConcurrencyHelpers
public import NIOCore
public import NIOPosix
import NIOSSL
import Prometheus
public import ServiceLifecycle
public import TallyCore
import TallyWire

/// The Tally RPC server: TLS, the magic, frames, and calls routed to handlers.
///
/// A `Service`: `run()` serves until graceful shutdown, then sends GOAWAY to every connection,
/// lets in-flight calls finish (up to the grace period) and returns.
public final class TallyServer: Service, Sendable {
  public static let alpnProtocol = "tally/1"

  private let configuration: ServerConfiguration
  private let dependencies: ServerConnectionHandler.Dependencies
  private let group: any EventLoopGroup
  private let logger: Logger
  private let connections: ConnectionRegistry
  private let boundAddress: EventLoopPromise<SocketAddress>
  /// What the server counts; `MetricsEndpoint` serves it to Prometheus.
  public let metrics: ServerMetrics

  /// `metrics`: where to count, by default a registry of the server's own.
  public init(
    configuration: ServerConfiguration,
    router: Router,
    authenticator: any Authenticator,
    logger: Logger,
    metrics: ServerMetrics? = nil,
    eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
  ) {
    let metrics = metrics ?? ServerMetrics(methodNames: router.methodNames)
    self.configuration = configuration
    self.metrics = metrics
    self.connections = ConnectionRegistry(openGauge: metrics.connectionsOpen)
    self.dependencies = .init(
      router: router,
      authenticator: authenticator,
      limits: configuration.limits,
      metrics: metrics,
      logger: logger
    )
    self.group = eventLoopGroup
    self.logger = logger
    self.boundAddress = eventLoopGroup.next().makePromise(of: SocketAddress.self)
  }

  /// Sets the tenants' own call rates (SetTenantCallRate): those not named go back to the
  /// server's `tenantCallsPerSecond` and `tenantCallBurst`.
  public func replaceTenantCallRates(_ rates: [String: TenantCallRate]) {
    self.dependencies.callRates.replaceOwnRates(rates)
  }

  /// The address the server listens on, once it does (useful with port 0).
  public var localAddress: SocketAddress {
    get async throws { try await self.boundAddress.futureResult.get() }
  }

  public func run() async throws {
    let channel: any Channel
    do {
      let tlsContext = try Self.tlsContext(for: self.configuration)
      channel = try await self.bootstrap(tlsContext: tlsContext)
        .bind(host: self.configuration.host, port: self.configuration.port).get()
    } catch {
      self.boundAddress.fail(error)
      throw error
    }
    let address = channel.localAddress
    if let address { self.boundAddress.succeed(address) }
    self.logger.info(
      "listening",
      metadata: ["address": "\(address.map { "\($0)" } ?? "?")", "tls": "\(self.configuration.tls != nil)"]
    )

    // Cancelled (another service of the group failed): no grace period, every connection closes.
    try await withTaskCancellationOrGracefulShutdownHandler {
      try await channel.closeFuture.get()
    } onCancelOrGracefulShutdown: {
      self.logger.info("shutting down: no new connections, GOAWAY to \(self.connections.count) open ones")
      channel.close(promise: nil)
      self.connections.beginShutdown()
    }
    let gracePeriod = Task.isCancelled ? .zero : self.configuration.shutdownGracePeriod
    await self.connections.waitUntilClosed(gracePeriod: gracePeriod, logger: self.logger)
    self.logger.info("stopped")
  }

  private func bootstrap(tlsContext: NIOSSLContext?) -> ServerBootstrap {
    let dependencies = self.dependencies
    let connections = self.connections
    return ServerBootstrap(group: self.group)
      .serverChannelOption(.backlog, value: 1024)
      .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
      .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
      .childChannelOption(.maxMessagesPerRead, value: 16)
      .childChannelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
          dependencies.metrics.connectionsAccepted.increment()
          let pipeline = channel.pipeline.syncOperations
          var source: ConnectionSource? = nil
          if let handshakes = dependencies.handshakes, let address = channel.remoteAddress {
            source = ConnectionSource(address)
            if let source, !handshakes.open(source) {
              dependencies.metrics.connectionsRefused.increment()
              dependencies.logger.debug(
                "connection refused: its source has the most handshakes in progress one may",
                metadata: ["source": "\(source)", "limit": "\(handshakes.limit)"])
              return try pipeline.addHandler(CloseAtOnceHandler())
            }
          }
          do {
            if let tlsContext {
              try pipeline.addHandler(NIOSSLServerHandler(context: tlsContext))
            }
            try pipeline.addHandler(ServerConnectionHandler(dependencies: dependencies, handshakeSource: source))
          } catch {
            // The handler would have given the place back; without it, give it back here.
            if let source { dependencies.handshakes?.close(source) }
            throw error
          }
          connections.add(channel)
        }
      }
  }

  /// Throws what `run` would about `configuration`'s TLS files or plaintext address: a caller that
  /// migrates a database first checks before, so that a bad file stops nothing half done.
  public static func checkTLS(of configuration: ServerConfiguration) throws {
    _ = try Self.tlsContext(for: configuration)
  }

  /// The TLS context `configuration` asks for (nil for plaintext), each file's problem named.
  static func tlsContext(for configuration: ServerConfiguration) throws -> NIOSSLContext? {
    guard let files = configuration.tls else {
      guard configuration.allowPlaintext else {
        throw ServerConfigurationError("TLS certificate and key are required (plaintext is for tests only)")
      }
      // PROTOCOL.md: plain TCP is for tests on loopback, so it never listens beyond this machine.
      guard ["127.0.0.1", "::1", "localhost"].contains(configuration.host) else {
        throw ServerConfigurationError(
          "plaintext listens on loopback only (127.0.0.1, ::1 or localhost), not \(configuration.host)")
      }
      return nil
    }
    let certificates: [NIOSSLCertificate]
    do {
      certificates = try NIOSSLCertificate.fromPEMFile(files.certificateChainPath)
    } catch {
      throw ServerConfigurationError("the TLS certificate chain \(files.certificateChainPath) is not PEM certificates")
    }
    guard !certificates.isEmpty else {
      throw ServerConfigurationError("the TLS certificate chain \(files.certificateChainPath) holds no certificate")
    }
    let key: NIOSSLPrivateKey
    do {
      key = try NIOSSLPrivateKey(file: files.privateKeyPath, format: .pem)
    } catch {
      throw ServerConfigurationError("the TLS private key \(files.privateKeyPath) is not a PEM private key")
    }
    var tls = TLSConfiguration.makeServerConfiguration(
      certificateChain: certificates.map { .certificate($0) }, privateKey: .privateKey(key))
    tls.minimumTLSVersion = .tlsv12
    tls.applicationProtocols = [Self.alpnProtocol]
    do {
      return try NIOSSLContext(configuration: tls)
    } catch {
      throw ServerConfigurationError(
        "the TLS private key \(files.privateKeyPath) does not go with the certificate \(files.certificateChainPath)")
    }
  }
}

/// Closes a refused connection as soon as it is active, before any TLS work.
private final class CloseAtOnceHandler: ChannelInboundHandler, Sendable {
  typealias InboundIn = ByteBuffer

  func channelActive(context: ChannelHandlerContext) {
    context.close(promise: nil)
  }
}

/// A configuration the server cannot start with.
public struct ServerConfigurationError: Error, CustomStringConvertible {
  public var description: String
  public init(_ description: String) { self.description = description }
}

/// The open connections, so that shutdown can reach each one and wait for it.
final class ConnectionRegistry: Sendable {
  private struct State {
    var channels: [ObjectIdentifier: any Channel] = [:]
    var shuttingDown = false
  }

  private let state = NIOLockedValueBox(State())
  /// `tally_connections_open`, kept with the registry's own count.
  private let openGauge: Gauge

  init(openGauge: Gauge) { self.openGauge = openGauge }

  var count: Int { self.state.withLockedValue { $0.channels.count } }

  func add(_ channel: any Channel) {
    let shuttingDown = self.state.withLockedValue { state in
      state.channels[ObjectIdentifier(channel)] = channel
      return state.shuttingDown
    }
    self.openGauge.increment()
    channel.closeFuture.whenComplete { _ in
      _ = self.state.withLockedValue { $0.channels.removeValue(forKey: ObjectIdentifier(channel)) }
      self.openGauge.decrement()
    }
    if shuttingDown { channel.pipeline.fireUserInboundEventTriggered(ServerShutdownEvent()) }
  }

  func beginShutdown() {
    let channels = self.state.withLockedValue { state in
      state.shuttingDown = true
      return Array(state.channels.values)
    }
    for channel in channels { channel.pipeline.fireUserInboundEventTriggered(ServerShutdownEvent()) }
  }

  /// Waits for every connection to close; past the grace period, or once cancelled, closes what is left.
  func waitUntilClosed(gracePeriod: Duration, logger: Logger) async {
    let deadline = NIODeadline.now() + TimeAmount(gracePeriod)
    while true {
      let channels = self.state.withLockedValue { Array($0.channels.values) }
      guard let channel = channels.first else { return }
      if NIODeadline.now() >= deadline || Task.isCancelled {
        logger.warning("grace period over: closing \(channels.count) connections with calls in flight")
        for channel in channels { channel.close(promise: nil) }
        for channel in channels { try? await channel.closeFuture.get() }
        return
      }
      await Self.closed(channel, orAt: deadline)
    }
  }

  /// Returns once `channel` has closed, `deadline` has passed or the task is cancelled, whichever
  /// comes first. Not a task group around `closeFuture.get()`: that waits for the close even when
  /// the deadline won, and a call that outlasts the grace period would hold up the shutdown.
  private static func closed(_ channel: any Channel, orAt deadline: NIODeadline) async {
    let done = channel.eventLoop.makePromise(of: Void.self)
    channel.closeFuture.whenComplete { _ in done.succeed() }
    let timer = channel.eventLoop.scheduleTask(deadline: deadline) { done.succeed() }
    await withTaskCancellationHandler {
      try? await done.futureResult.get()
    } onCancel: {
      done.succeed()
    }
    timer.cancel()
  }
}
