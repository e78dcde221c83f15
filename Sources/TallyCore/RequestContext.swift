public import Logging
public import NIOCore

/// Everything a handler knows about its call besides the request message.
public struct RequestContext: Sendable {
  public var principal: Principal
  /// The tenant this call acts on: the key's own, or the one an operator key named in CALL.
  public var tenantID: String?
  public var method: String
  public var requestID: String
  public var idempotencyKey: String?
  public var metadata: [String: String]
  /// When the call's time is up; the handler's task is cancelled then too.
  public var deadline: ContinuousClock.Instant?
  public var logger: Logger
  public var allocator: ByteBufferAllocator

  public init(
    principal: Principal,
    tenantID: String?,
    method: String,
    requestID: String,
    idempotencyKey: String? = nil,
    metadata: [String: String] = [:],
    deadline: ContinuousClock.Instant? = nil,
    logger: Logger,
    allocator: ByteBufferAllocator = ByteBufferAllocator()
  ) {
    self.principal = principal
    self.tenantID = tenantID
    self.method = method
    self.requestID = requestID
    self.idempotencyKey = idempotencyKey
    self.metadata = metadata
    self.deadline = deadline
    self.logger = logger
    self.allocator = allocator
  }
}
