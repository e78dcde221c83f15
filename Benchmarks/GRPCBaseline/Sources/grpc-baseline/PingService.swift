import GRPCCore
import GRPCProtobuf
import TallyProto

/// `tally.v1.SystemService/Ping` as a gRPC service, registered by hand the way protoc-gen-grpc-swift
/// would generate it: the request's payload comes back in the response.
struct PingService: RegistrableRPCService {
  static let ping = MethodDescriptor(fullyQualifiedService: "tally.v1.SystemService", method: "Ping")

  func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
    router.registerHandler(
      forMethod: Self.ping,
      deserializer: ProtobufDeserializer<Tally_V1_PingRequest>(),
      serializer: ProtobufSerializer<Tally_V1_PingResponse>()
    ) { request, _ in
      let single = try await ServerRequest(stream: request)
      var response = Tally_V1_PingResponse()
      response.payload = single.message.payload
      return StreamingServerResponse(single: ServerResponse(message: response))
    }
  }
}
