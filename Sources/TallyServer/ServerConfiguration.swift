public import TallyCore

/// How `tallyd` listens: address, TLS, limits. Plain values with defaults; `tallyd` fills them from its file.
public struct ServerConfiguration: Sendable {
  /// PEM files for TLS.
  public struct TLSFiles: Sendable, Hashable {
    public var certificateChainPath: String
    public var privateKeyPath: String

    public init(certificateChainPath: String, privateKeyPath: String) {
      self.certificateChainPath = certificateChainPath
      self.privateKeyPath = privateKeyPath
    }
  }

  public var host: String
  /// 0 picks a free port; `TallyServer.localAddress` tells which.
  public var port: Int
  /// Required unless `allowPlaintext` is set.
  public var tls: TLSFiles?
  /// Plain TCP, for tests on loopback only; never the default.
  public var allowPlaintext: Bool
  public var limits: ServerLimits
  /// How long in-flight calls may run after SIGTERM before their connections are closed anyway.
  public var shutdownGracePeriod: Duration

  public init(
    host: String = "127.0.0.1",
    port: Int = 7443,
    tls: TLSFiles? = nil,
    allowPlaintext: Bool = false,
    limits: ServerLimits = ServerLimits(),
    shutdownGracePeriod: Duration = .seconds(30)
  ) {
    self.host = host
    self.port = port
    self.tls = tls
    self.allowPlaintext = allowPlaintext
    self.limits = limits
    self.shutdownGracePeriod = shutdownGracePeriod
  }
}
