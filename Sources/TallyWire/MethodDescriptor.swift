public import SwiftProtobuf
public import TallyProto

/// The three call shapes of protocol version 1.
public enum CallKind: String, Sendable, Hashable {
  /// One request message, one response message.
  case unary
  /// One request message, any number of response messages.
  case serverStreaming
  /// Any number of request messages, one response message.
  case clientStreaming
}

/// A method with its types: what the client calls and the server routes by name.
public struct MethodDescriptor<Request: Message, Response: Message>: Sendable, Hashable {
  /// `tally.v1.Service/Method`, exactly as in a CALL frame.
  public let fullName: String
  public let kind: CallKind

  public init(_ fullName: String, _ kind: CallKind) {
    self.fullName = fullName
    self.kind = kind
  }

  public var erased: AnyMethodDescriptor {
    AnyMethodDescriptor(
      fullName: self.fullName, kind: self.kind, requestType: Request.self, responseType: Response.self)
  }
}

/// A method without its types, for catalogues and for `tally call`.
public struct AnyMethodDescriptor: Sendable {
  public let fullName: String
  public let kind: CallKind
  public let requestType: any Message.Type
  public let responseType: any Message.Type
}

/// `tally.v1.SystemService`.
public enum SystemMethods {
  public static let ping = MethodDescriptor<Tally_V1_PingRequest, Tally_V1_PingResponse>(
    "tally.v1.SystemService/Ping",
    .unary
  )
  public static let serverInfo = MethodDescriptor<Tally_V1_ServerInfoRequest, Tally_V1_ServerInfoResponse>(
    "tally.v1.SystemService/ServerInfo",
    .unary
  )
  public static let count = MethodDescriptor<Tally_V1_CountRequest, Tally_V1_CountResponse>(
    "tally.v1.SystemService/Count",
    .serverStreaming
  )
  public static let sum = MethodDescriptor<Tally_V1_SumRequest, Tally_V1_SumResponse>(
    "tally.v1.SystemService/Sum",
    .clientStreaming
  )
  public static let all: [AnyMethodDescriptor] = [ping.erased, serverInfo.erased, count.erased, sum.erased]
}

/// Every method of every service, by full name; a test checks it against proto/.
public enum MethodCatalog {
  public static let all: [AnyMethodDescriptor] = SystemMethods.all

  public static func method(named fullName: String) -> AnyMethodDescriptor? {
    all.first { $0.fullName == fullName }
  }
}
