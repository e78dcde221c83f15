import NIOCore
import NIOPosix
import NIOSSL

#if canImport(Glibc)
  import Glibc
#endif

/// Plain words for why a connection could not be made, or broke before WELCOME: NIO's and
/// BoringSSL's errors name their types and the build's source files, which tell a person nothing.
enum ConnectionFailure {
  static func describe(_ error: any Error, endpoint: String) -> String {
    switch error {
    case let error as NIOConnectionError:
      if let first = error.connectionErrors.first { return Self.describe(first.error, endpoint: endpoint) }
      return "cannot find the host \(error.host) (no address for it)"
    case let error as SocketAddressError:
      if case .unknown(let host, _) = error { return "cannot find the host \(host) (no address for it)" }
      return "\(error)"
    case let error as IOError where error.errnoCode == ECONNREFUSED:
      return "connection refused: nothing listens on \(endpoint) (is tallyd running there?)"
    case let error as IOError where error.errnoCode == ECONNRESET:
      return "the server reset the connection"
    case let error as IOError:
      return error.description
    case ChannelError.connectTimeout:
      return "no answer from \(endpoint) within the connect timeout"
    case _ where Self.closedByThePeer(error) && error is NIOSSLError:
      return "the server closed the connection during the TLS handshake"
    case NIOSSLError.handshakeFailed(let failure):
      switch Self.tlsReason(String(describing: failure)) {
      case "CERTIFICATE_VERIFY_FAILED":
        return "TLS: the server's certificate is not trusted: a CA this client trusts did not sign it, "
          + "or it does not name \(Self.host(of: endpoint)) (tally takes the CA as --ca-cert, or ca_cert in its profile)"
      case "WRONG_VERSION_NUMBER", "PACKET_LENGTH_TOO_LONG", "HTTP_REQUEST", "HTTPS_PROXY_REQUEST":
        return "TLS: what answers on \(endpoint) does not speak TLS"
      case let reason?: return "TLS: the handshake failed (\(reason))"
      case nil: return "TLS: the handshake failed"
      }
    case let error as NIOSSLExtraError where error == .failedToValidateHostname:
      return "TLS: the server's certificate does not name \(Self.host(of: endpoint))"
    case let error as NIOSSLExtraError:
      return "TLS: \(error)"
    default:
      return "\(error)"
    }
  }

  /// `host` of `host:port` (or `[v6]:port`).
  private static func host(of endpoint: String) -> String {
    ClientConfiguration.parseEndpoint(endpoint)?.host ?? endpoint
  }

  /// Whether the server ended the connection (a reset, an end of file, also during TLS), rather
  /// than the client refusing what it got: only then may a server's handshake limit be the cause.
  static func closedByThePeer(_ error: any Error) -> Bool {
    switch error {
    case is IOError, NIOSSLError.uncleanShutdown: true
    case NIOSSLError.handshakeFailed(let failure): String(describing: failure).contains("EOF during handshake")
    default: false
    }
  }

  /// BoringSSL's reason in its error text, e.g. `CERTIFICATE_VERIFY_FAILED` in
  /// `… error:1000007d:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED at /path/handshake.cc:NNN`.
  static func tlsReason(_ text: String) -> String? {
    guard let marker = text.firstRange(of: "OPENSSL_internal:") else { return nil }
    let reason = text[marker.upperBound...].prefix { $0.isLetter || $0.isNumber || $0 == "_" }
    return reason.isEmpty ? nil : String(reason)
  }
}
