public import NIOCore
public import SwiftProtobuf
public import TallyWire

/// Which principals may call a method.
public enum Access: Sendable, Hashable {
  /// Any authenticated key, whatever its scopes (SystemService).
  case anyKey
  /// Keys holding at least one of these scopes.
  case scopes(Set<Scope>)
}

/// Request messages of a client-streaming call, as raw payloads; the server supplies it.
public protocol RawMessageIterator {
  /// The next payload, or nil after the client's END_STREAM.
  mutating func next() async throws -> ByteBuffer?
}

/// The untyped request payloads of a client-streaming call, iterated once.
public struct RawRequestStream: Sendable {
  let makeIterator: @Sendable () -> any RawMessageIterator

  public init(_ makeIterator: @escaping @Sendable () -> any RawMessageIterator) {
    self.makeIterator = makeIterator
  }
}

/// The typed request messages of a client-streaming call.
public struct RequestStream<Element: Message>: AsyncSequence, Sendable {
  private let raw: RawRequestStream
  private let limits: [WireFieldLimit]
  private let checksText: Bool

  public init(_ raw: RawRequestStream) {
    self.init(raw, limits: wireFieldLimits(of: Element.self), checksText: textIsChecked(of: Element.self))
  }

  init(_ raw: RawRequestStream, limits: [WireFieldLimit], checksText: Bool) {
    self.raw = raw
    self.limits = limits
    self.checksText = checksText
  }

  public func makeAsyncIterator() -> AsyncIterator {
    AsyncIterator(raw: self.raw.makeIterator(), limits: self.limits, checksText: self.checksText)
  }

  public struct AsyncIterator: AsyncIteratorProtocol {
    var raw: any RawMessageIterator
    let limits: [WireFieldLimit]
    let checksText: Bool
    var messages = 0
    public mutating func next() async throws -> Element? {
      guard let payload = try await self.raw.next() else { return nil }
      defer { self.messages += 1 }
      return try decodeRequest(
        Element.self, from: payload, limits: self.limits, checksText: self.checksText, streamMessage: self.messages)
    }
  }
}

/// Sends response messages of a server-streaming call, waiting while the connection is full.
public protocol ResponseSink: Sendable {
  func send(_ message: any Message) async throws
}

/// A typed view of a `ResponseSink`.
public struct ResponseWriter<Element: Message>: Sendable {
  private let sink: any ResponseSink
  public init(_ sink: any ResponseSink) { self.sink = sink }
  public func send(_ message: Element) async throws { try await self.sink.send(message) }
}

/// A method the router found: its shape, who may call it, and its type-erased body.
public struct RoutedMethod: Sendable {
  public enum Body: Sendable {
    case unary(@Sendable (ByteBuffer, RequestContext) async throws -> any Message)
    case serverStreaming(@Sendable (ByteBuffer, RequestContext, any ResponseSink) async throws -> Void)
    case clientStreaming(@Sendable (RawRequestStream, RequestContext) async throws -> any Message)
  }

  public let fullName: String
  public let access: Access
  /// Set again only by `Router.wrapBodies`.
  public internal(set) var body: Body
  /// The response message's type, to decode a stored response (`IdempotentCalls`).
  public let responseType: any Message.Type

  public var kind: CallKind {
    switch self.body {
    case .unary: .unary
    case .serverStreaming: .serverStreaming
    case .clientStreaming: .clientStreaming
    }
  }
}

/// Maps full method names to handlers. Pure: built once at start-up, read by every connection.
public struct Router: Sendable {
  private var methods: [String: RoutedMethod] = [:]

  public init() {}

  public func method(named fullName: String) -> RoutedMethod? { self.methods[fullName] }

  public var methodNames: [String] { self.methods.keys.sorted() }

  public mutating func unary<Request, Response>(
    _ method: MethodDescriptor<Request, Response>,
    access: Access,
    _ handler: @escaping @Sendable (Request, RequestContext) async throws -> Response
  ) {
    precondition(method.kind == .unary, "\(method.fullName) is not unary")
    let (limits, checksText) = (wireFieldLimits(of: Request.self), textIsChecked(of: Request.self))
    self.add(
      method.fullName, access, Response.self,
      .unary { payload, context in
        try await handler(
          try decodeRequest(Request.self, from: payload, limits: limits, checksText: checksText), context)
      })
  }

  public mutating func serverStreaming<Request, Response>(
    _ method: MethodDescriptor<Request, Response>,
    access: Access,
    _ handler:
      @escaping @Sendable (Request, RequestContext, ResponseWriter<Response>) async throws
      -> Void
  ) {
    precondition(method.kind == .serverStreaming, "\(method.fullName) is not server streaming")
    let (limits, checksText) = (wireFieldLimits(of: Request.self), textIsChecked(of: Request.self))
    self.add(
      method.fullName, access, Response.self,
      .serverStreaming { payload, context, sink in
        try await handler(
          try decodeRequest(Request.self, from: payload, limits: limits, checksText: checksText), context,
          ResponseWriter(sink))
      })
  }

  public mutating func clientStreaming<Request, Response>(
    _ method: MethodDescriptor<Request, Response>,
    access: Access,
    _ handler: @escaping @Sendable (RequestStream<Request>, RequestContext) async throws -> Response
  ) {
    precondition(method.kind == .clientStreaming, "\(method.fullName) is not client streaming")
    let (limits, checksText) = (wireFieldLimits(of: Request.self), textIsChecked(of: Request.self))
    self.add(
      method.fullName, access, Response.self,
      .clientStreaming { raw, context in
        try await handler(RequestStream(raw, limits: limits, checksText: checksText), context)
      })
  }

  private mutating func add(
    _ fullName: String, _ access: Access, _ responseType: any Message.Type, _ body: RoutedMethod.Body
  ) {
    precondition(self.methods[fullName] == nil, "\(fullName) registered twice")
    self.methods[fullName] = RoutedMethod(fullName: fullName, access: access, body: body, responseType: responseType)
  }

  /// Replaces the bodies of the methods `wrap` returns a new body for.
  mutating func wrapBodies(_ wrap: (RoutedMethod) -> RoutedMethod.Body?) {
    for (name, method) in self.methods {
      if let body = wrap(method) { self.methods[name]?.body = body }
    }
  }
}

/// The bounds on `type`'s lists, looked up once per method rather than per call.
func wireFieldLimits(of type: any Message.Type) -> [WireFieldLimit] {
  (type as? any WireBoundedRequest.Type)?.wireFieldLimits ?? []
}

/// Whether `type`'s requests are checked for stream-safe text: all but bytes-only ones (Ping).
func textIsChecked(of type: any Message.Type) -> Bool { !(type is any OpaqueBytesRequest.Type) }

/// Decodes a request payload; a malformed one is the caller's INVALID_ARGUMENT, not our INTERNAL,
/// and so is one with a list longer than `limits` allow, or text that is not stream-safe, refused
/// before it is decoded.
func decodeRequest<M: Message>(
  _ type: M.Type, from payload: ByteBuffer, limits: [WireFieldLimit] = [], checksText: Bool = true,
  streamMessage: Int? = nil
) throws -> M {
  let inStream = streamMessage.map { " in message \($0)" } ?? ""
  if checksText, let offset = StreamSafeText.firstLongCombiningRun(in: payload) {
    throw RPCError(
      code: .invalidArgument, message: StreamSafeText.refusal("the request message\(inStream)", at: offset))
  }
  if !limits.isEmpty {
    switch WireFieldLimit.count(limits, in: payload) {
    case .withinLimits:
      break
    case .passed(let passed):
      throw RPCError.invalidArgument(
        field: passed.field, "must have at most \(passed.max) entries, got \(passed.found)\(inStream)")
    case .sameKey(let clash):
      let scalars = clash.scalars
      throw RPCError.invalidArgument(
        field: clash.field,
        "has the key \"\(clash.second)\" twice, in two Unicode forms (\(scalars.first) and \(scalars.second)), which are one key here: send it once, in one form\(inStream)"
      )
    case .unreadable:
      throw RPCError(
        code: .invalidArgument,
        message:
          "the request message\(inStream) is not a valid \(M.protoMessageName) (its wire form cannot be read, or has a group)"
      )
    }
  }
  do {
    return try M(decoding: payload)
  } catch {
    throw RPCError(
      code: .invalidArgument,
      message: "the request message is not a valid \(M.protoMessageName)",
      cause: error
    )
  }
}
