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
  public static let all: [AnyMethodDescriptor] =
    SystemMethods.all + AdminMethods.all + AccountMethods.all + CampaignMethods.all + OpportunityMethods.all
    + EventMethods.all + SurveyMethods.all + KpiMethods.all

  public static func method(named fullName: String) -> AnyMethodDescriptor? {
    all.first { $0.fullName == fullName }
  }
}

/// `tally.v1.AdminService`.
public enum AdminMethods {
  public static let createTenant = MethodDescriptor<Tally_V1_CreateTenantRequest, Tally_V1_Tenant>(
    "tally.v1.AdminService/CreateTenant",
    .unary
  )
  public static let getTenant = MethodDescriptor<Tally_V1_GetTenantRequest, Tally_V1_Tenant>(
    "tally.v1.AdminService/GetTenant",
    .unary
  )
  public static let listTenants = MethodDescriptor<Tally_V1_ListTenantsRequest, Tally_V1_ListTenantsResponse>(
    "tally.v1.AdminService/ListTenants",
    .unary
  )
  public static let suspendTenant = MethodDescriptor<Tally_V1_SuspendTenantRequest, Tally_V1_Tenant>(
    "tally.v1.AdminService/SuspendTenant",
    .unary
  )
  public static let resumeTenant = MethodDescriptor<Tally_V1_ResumeTenantRequest, Tally_V1_Tenant>(
    "tally.v1.AdminService/ResumeTenant",
    .unary
  )
  public static let setTenantCallRate = MethodDescriptor<Tally_V1_SetTenantCallRateRequest, Tally_V1_Tenant>(
    "tally.v1.AdminService/SetTenantCallRate",
    .unary
  )
  public static let createApiKey = MethodDescriptor<Tally_V1_CreateApiKeyRequest, Tally_V1_CreateApiKeyResponse>(
    "tally.v1.AdminService/CreateApiKey",
    .unary
  )
  public static let listApiKeys = MethodDescriptor<Tally_V1_ListApiKeysRequest, Tally_V1_ListApiKeysResponse>(
    "tally.v1.AdminService/ListApiKeys",
    .unary
  )
  public static let revokeApiKey = MethodDescriptor<Tally_V1_RevokeApiKeyRequest, Tally_V1_ApiKey>(
    "tally.v1.AdminService/RevokeApiKey",
    .unary
  )
  public static let all: [AnyMethodDescriptor] = [
    createTenant.erased, getTenant.erased, listTenants.erased, suspendTenant.erased, resumeTenant.erased,
    setTenantCallRate.erased, createApiKey.erased, listApiKeys.erased, revokeApiKey.erased,
  ]
}
