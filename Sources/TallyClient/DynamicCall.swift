import NIOConcurrencyHelpers
import SwiftProtobuf
import TallyWire

extension TallyClient {
  /// Calls a method of `MethodCatalog` by its full name with protobuf-JSON messages, so that tools
  /// (`tally call`, scripts) can reach every method without compiled-in types.
  ///
  /// Unary and server-streaming calls take exactly one request; client-streaming calls send every
  /// request in order. Returns the responses as protobuf JSON with the `.proto` field names.
  public func call(
    methodNamed fullName: String,
    jsonRequests: [String],
    options: CallOptions = CallOptions()
  ) async throws -> [String] {
    let collected = ResponseCollector()
    try await self.call(methodNamed: fullName, jsonRequests: jsonRequests, options: options) { collected.append($0) }
    return collected.lines
  }

  /// The same call, handing each response to `onResponse` as it arrives (for long streams).
  public func call(
    methodNamed fullName: String,
    jsonRequests: [String],
    options: CallOptions = CallOptions(),
    onResponse: @escaping @Sendable (String) async throws -> Void
  ) async throws {
    let method = try Self.catalogued(fullName)
    try await self.call(method, method.requestType, method.responseType, jsonRequests, options, onResponse)
  }

  /// Throws what `call(methodNamed:)` would throw before it sends anything (an unknown method,
  /// a request that is not the method's message in protobuf JSON, a wrong count of requests),
  /// without a connection: a tool can tell its user's mistakes from the server's answers.
  public static func checkDynamicCall(methodNamed fullName: String, jsonRequests: [String]) throws {
    let method = try Self.catalogued(fullName)
    _ = try Self.requests(method, method.requestType, jsonRequests)
  }

  private static func catalogued(_ fullName: String) throws -> AnyMethodDescriptor {
    guard let method = MethodCatalog.method(named: fullName) else {
      throw RPCError(
        code: .unimplemented,
        message: "unknown method \(fullName): it is not in MethodCatalog; `tally call --list` lists the known methods"
      )
    }
    return method
  }

  /// The requests decoded, and as many as the method's kind takes (one, unless client streaming).
  private static func requests<Request: Message>(
    _ method: AnyMethodDescriptor, _ requestType: Request.Type, _ jsonRequests: [String]
  ) throws -> [Request] {
    let requests = try jsonRequests.enumerated().map { index, json in
      try DynamicJSON.decode(Request.self, json, index: index, of: jsonRequests.count)
    }
    if method.kind != .clientStreaming { _ = try DynamicJSON.single(requests, method) }
    return requests
  }

  /// The typed call behind `call(methodNamed:)`, reached by opening the catalogue's metatypes.
  private func call<Request: Message, Response: Message>(
    _ method: AnyMethodDescriptor,
    _ requestType: Request.Type,
    _ responseType: Response.Type,
    _ jsonRequests: [String],
    _ options: CallOptions,
    _ onResponse: @escaping @Sendable (String) async throws -> Void
  ) async throws {
    let descriptor = MethodDescriptor<Request, Response>(method.fullName, method.kind)
    let requests = try Self.requests(method, Request.self, jsonRequests)
    switch method.kind {
    case .unary:
      try await onResponse(try DynamicJSON.encode(try await self.unary(descriptor, requests[0], options: options)))
    case .serverStreaming:
      let request = requests[0]
      try await self.serverStreaming(descriptor, request, options: options) { responses in
        for try await response in responses { try await onResponse(try DynamicJSON.encode(response)) }
      }
    case .clientStreaming:
      let response = try await self.clientStreaming(descriptor, options: options) { writer in
        for request in requests { try await writer.send(request) }
      }
      try await onResponse(try DynamicJSON.encode(response))
    }
  }
}

/// Gathers the responses of a dynamic call in arrival order.
private final class ResponseCollector: Sendable {
  private let box = NIOLockedValueBox<[String]>([])
  var lines: [String] { self.box.withLockedValue { $0 } }
  func append(_ line: String) { self.box.withLockedValue { $0.append(line) } }
}

/// JSON conversion for dynamic calls, turning the parser's terse errors into RPC errors.
private enum DynamicJSON {
  static func decode<M: Message>(_ type: M.Type, _ json: String, index: Int, of count: Int) throws -> M {
    do {
      return try M(jsonString: json)
    } catch {
      let which = count > 1 ? "request \(index + 1) of \(count)" : "the request"
      throw RPCError(
        code: .invalidArgument,
        message: "\(which) is not a valid \(M.protoMessageName) in protobuf JSON: \(Self.explain(error))",
        cause: error
      )
    }
  }

  static func encode(_ message: some Message) throws -> String {
    var options = JSONEncodingOptions()
    options.preserveProtoFieldNames = true
    options.useDeterministicOrdering = true  // the same answer prints the same bytes
    do {
      return try message.jsonString(options: options)
    } catch {
      throw RPCError(
        code: .internalError,
        message: "the response \(type(of: message).protoMessageName) cannot be written as JSON: \(error)",
        cause: error
      )
    }
  }

  /// The one request of a unary or server-streaming call.
  static func single<M>(_ requests: [M], _ method: AnyMethodDescriptor) throws -> M {
    guard requests.count == 1, let request = requests.first else {
      throw RPCError(
        code: .invalidArgument,
        message: "\(method.fullName) is \(method.kind.rawValue) and takes exactly 1 request, got \(requests.count)"
      )
    }
    return request
  }

  /// A phrase for the parser's error: SwiftProtobuf names its cases but does not explain them.
  static func explain(_ error: any Error) -> String {
    guard let error = error as? JSONDecodingError else { return "\(error)" }
    switch error {
    case .unknownField(let name): return "unknown field \"\(name)\""
    case .truncated: return "the JSON ends too early"
    case .trailingGarbage: return "there is text after the message's closing brace"
    case .malformedNumber: return "a number is malformed"
    case .numberRange: return "a number is out of range or not an integer where one is needed"
    case .malformedString: return "a string is malformed (or a string was expected)"
    case .malformedBool: return "a bool is malformed"
    case .schemaMismatch: return "a value does not have the field's type"
    case .unrecognizedEnumValue: return "an enum value is not known"
    case .illegalNull: return "null is not allowed there"
    default: return "\(error)"
    }
  }
}
