/// An error that ends a whole connection with GOAWAY: what went wrong and the code the peer is sent.
public struct ConnectionError: Error, Sendable, Hashable, CustomStringConvertible {
  /// The GOAWAY codes of PROTOCOL.md, with their numbers on the wire (`tally.v1.GoAwayCode`).
  public struct Code: Hashable, Sendable, CustomStringConvertible {
    public var rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }

    public static let noError = Code(rawValue: 0)
    public static let protocolError = Code(rawValue: 1)
    public static let frameTooLarge = Code(rawValue: 2)
    public static let unauthenticated = Code(rawValue: 3)
    public static let idleTimeout = Code(rawValue: 4)
    public static let shuttingDown = Code(rawValue: 5)
    public static let overloaded = Code(rawValue: 6)

    public var description: String {
      switch self {
      case .noError: "NO_ERROR"
      case .protocolError: "PROTOCOL_ERROR"
      case .frameTooLarge: "FRAME_TOO_LARGE"
      case .unauthenticated: "UNAUTHENTICATED"
      case .idleTimeout: "IDLE_TIMEOUT"
      case .shuttingDown: "SHUTTING_DOWN"
      case .overloaded: "OVERLOADED"
      default: "GOAWAY_CODE_\(self.rawValue)"
      }
    }
  }

  public var code: Code
  /// For a person; sent to the peer in GOAWAY, so it never holds secrets.
  public var message: String

  public init(_ code: Code, _ message: String) {
    self.code = code
    self.message = message
  }

  public var description: String { "\(self.code): \(self.message)" }
}
