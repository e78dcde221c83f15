import NIOCore
import NIOHTTP1

/// Answers each request on a scraper's connection when its head arrives: the metrics for a GET
/// of `/metrics`; for anything else an error, then the connection closes without reading a body.
/// A peer whose answers back up unread (past the channel's write watermark) is read no more; a
/// request that comes while they do, or their staying unread for `writeStallTimeout`, closes the
/// connection: a scraper reads each answer before it asks again, and answers queued for a peer
/// that never reads would grow without end.
final class MetricsRequestHandler: ChannelDuplexHandler {
  typealias InboundIn = HTTPServerRequestPart
  typealias OutboundIn = HTTPServerResponsePart
  typealias OutboundOut = HTTPServerResponsePart

  private let metrics: ServerMetrics
  private let requestTimeout: TimeAmount
  private let beforeScrape: @Sendable () -> Void
  private var timeout: Scheduled<Void>?
  private var readPending = false
  private var stallTimer: Scheduled<Void>?
  /// How long answers may stay backed up unread before the connection is closed.
  static let writeStallTimeout: TimeAmount = .seconds(10)

  init(metrics: ServerMetrics, requestTimeout: TimeAmount, beforeScrape: @escaping @Sendable () -> Void) {
    self.metrics = metrics
    self.requestTimeout = requestTimeout
    self.beforeScrape = beforeScrape
  }

  func handlerAdded(context: ChannelHandlerContext) {
    self.awaitRequest(context: context)
  }

  func handlerRemoved(context: ChannelHandlerContext) {
    self.timeout?.cancel()
    self.stallTimer?.cancel()
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    guard case .head(let head) = self.unwrapInboundIn(data) else { return }  // a body is never read
    self.timeout?.cancel()
    self.timeout = nil
    guard context.channel.isWritable else { return context.close(promise: nil) }
    self.respond(to: head, context: context)
  }

  func read(context: ChannelHandlerContext) {
    if context.channel.isWritable {
      context.read()
    } else {
      self.readPending = true
    }
  }

  func channelWritabilityChanged(context: ChannelHandlerContext) {
    if context.channel.isWritable {
      self.stallTimer?.cancel()
      self.stallTimer = nil
      if self.readPending {
        self.readPending = false
        context.read()
      }
    } else if self.stallTimer == nil {
      self.stallTimer = context.eventLoop.assumeIsolated().scheduleTask(in: Self.writeStallTimeout) {
        context.close(promise: nil)
      }
    }
    context.fireChannelWritabilityChanged()
  }

  /// Closes the connection unless a request head arrives within `requestTimeout`.
  private func awaitRequest(context: ChannelHandlerContext) {
    self.timeout = context.eventLoop.assumeIsolated().scheduleTask(in: self.requestTimeout) {
      context.close(promise: nil)
    }
  }

  private func respond(to head: HTTPRequestHead, context: ChannelHandlerContext) {
    let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
    var status = HTTPResponseStatus.ok
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
      headers.add(name: "Content-Type", value: "text/plain; version=0.0.4; charset=utf-8")
      body = self.metrics.exposition()
    }
    if status != .ok { headers.add(name: "Content-Type", value: "text/plain; charset=utf-8") }
    headers.add(name: "Content-Length", value: "\(body.count)")
    // Only a scrape keeps the connection: another request's body is not read, so nothing after it could be.
    let keepAlive = head.isKeepAlive && status == .ok
    headers.add(name: "Connection", value: keepAlive ? "keep-alive" : "close")
    let responseHead = HTTPResponseHead(version: head.version, status: status, headers: headers)
    context.write(self.wrapOutboundOut(.head(responseHead)), promise: nil)
    if head.method != .HEAD {
      context.write(
        self.wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
    }
    let written = context.writeAndFlush(self.wrapOutboundOut(.end(nil)))
    if keepAlive {
      self.awaitRequest(context: context)
    } else {
      written.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    }
  }
}
