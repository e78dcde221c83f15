public import Logging
public import NIOCore

/// Everything a handler knows about its call besides the request message. A class, so that
/// handing it to the call's task and on to services is one retain, not a copy of every field.
public final class RequestContext: Sendable {
  public let principal: Principal
  /// The tenant this call acts on: the key's own, or the one an operator key named in CALL.
  public let tenantID: String?
  public let method: String
  public let requestID: String
  public let idempotencyKey: String?
  public let metadata: [String: String]
  /// When the call's time is up; the handler's task is cancelled then too.
  public let deadline: ContinuousClock.Instant?
  /// The connection's logger, without this call's metadata.
  public let connectionLogger: Logger
  public let allocator: ByteBufferAllocator

  /// The connection's logger with this call's request id and method. Built when something logs,
  /// not per call: swift-log's `StreamLogHandler` re-renders all metadata on every key set, which
  /// was a fifth of the server's CPU per Ping.
  public var logger: Logger {
    var logger = self.connectionLogger
    logger[metadataKey: "request_id"] = "\(self.requestID)"
    logger[metadataKey: "method"] = "\(self.method)"
    return logger
  }

  public init(
    principal: Principal,
    tenantID: String?,
    method: String,
    requestID: String,
    idempotencyKey: String? = nil,
    metadata: [String: String] = [:],
    deadline: ContinuousClock.Instant? = nil,
    connectionLogger logger: Logger,
    allocator: ByteBufferAllocator = ByteBufferAllocator()
  ) {
    self.principal = principal
    self.tenantID = tenantID
    self.method = method
    self.requestID = requestID
    self.idempotencyKey = idempotencyKey
    self.metadata = metadata
    self.deadline = deadline
    self.connectionLogger = logger
    self.allocator = allocator
  }
}
