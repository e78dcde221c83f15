public import Logging
public import NIOCore
public import TallyWire

/// A call's request id: the client's, or the parts of one made up from its connection and stream,
/// joined only when something reads it (a log line, an INTERNAL status), not for every call.
public enum RequestID: Sendable, ExpressibleByStringLiteral {
  case given(String)
  case madeUp(connection: String, stream: UInt32)

  public init(stringLiteral value: String) { self = .given(value) }

  public var text: String {
    switch self {
    case .given(let id): id
    case .madeUp(let connection, let stream): "\(connection).\(stream)"
    }
  }
}

/// Everything a handler knows about its call besides the request message. A class, so that
/// handing it to the call's task and on to services is one retain, not a copy of every field.
public final class RequestContext: Sendable {
  public let principal: Principal
  /// The tenant this call acts on: the key's own, or the one an operator key named in CALL.
  public let tenantID: String?
  public let method: String
  private let requestIDParts: RequestID
  public let idempotencyKey: String?
  public let metadata: [String: String]
  /// When the call's time is up; the handler's task is cancelled then too.
  public let deadline: ContinuousClock.Instant?
  /// The connection's logger, without this call's metadata.
  public let connectionLogger: Logger
  public let allocator: ByteBufferAllocator
  /// The largest response message the connection carries (its `max_frame_payload`): a write
  /// whose answer would be larger is refused before it writes anything.
  public let maxResponseBytes: Int

  public var requestID: String { self.requestIDParts.text }

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
    requestID: RequestID,
    idempotencyKey: String? = nil,
    metadata: [String: String] = [:],
    deadline: ContinuousClock.Instant? = nil,
    connectionLogger logger: Logger,
    allocator: ByteBufferAllocator = ByteBufferAllocator(),
    maxResponseBytes: Int = Frame.defaultMaxPayload
  ) {
    self.principal = principal
    self.tenantID = tenantID
    self.method = method
    self.requestIDParts = requestID
    self.idempotencyKey = idempotencyKey
    self.metadata = metadata
    self.deadline = deadline
    self.connectionLogger = logger
    self.allocator = allocator
    self.maxResponseBytes = maxResponseBytes
  }
}
