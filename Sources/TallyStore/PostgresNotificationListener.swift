import CLibPQ
import Foundation
public import Logging
import Synchronization

/// LISTENs on one channel on a connection of its own and hands each notification's payload on, on a
/// thread of its own: PostgreSQL delivers a NOTIFY when its transaction commits, to the sessions
/// that listen at that moment. Notifications sent while no session of this listener listened are
/// lost; `onGap` says when that may have happened (before the first LISTEN and after each
/// reconnect), so that a cache kept fresh by the payloads can start over.
public final class PostgresNotificationListener: Sendable {
  public struct Configuration: Sendable {
    public var conninfo: String
    /// A fixed identifier (letters and underscores), not a user's text.
    public var channel: String
    /// How long a wait for the socket lasts before `stop()` is looked at again.
    public var pollInterval: Duration = .milliseconds(250)
    /// The wait between a failed connection and the next try.
    public var reconnectBackoff: Duration = .seconds(1)

    public init(conninfo: String, channel: String) {
      self.conninfo = conninfo
      self.channel = channel
    }
  }

  private let configuration: Configuration
  private let logger: Logger
  private let onPayload: @Sendable (String) -> Void
  private let onGap: @Sendable () -> Void
  private let state = Mutex((stopped: false, listening: false))

  public init(
    configuration: Configuration, logger: Logger, onPayload: @escaping @Sendable (String) -> Void,
    onGap: @escaping @Sendable () -> Void
  ) {
    precondition(
      !configuration.channel.isEmpty
        && configuration.channel.utf8.allSatisfy { ($0 | 0x20) >= 0x61 && ($0 | 0x20) <= 0x7A || $0 == 0x5F },
      "a channel is a plain identifier")
    self.configuration = configuration
    self.logger = logger
    self.onPayload = onPayload
    self.onGap = onGap
  }

  /// Whether a LISTEN is in force now (for tests that must not notify before it is).
  public var isListening: Bool { self.state.withLock { $0.listening } }

  /// Ends `run()` within a poll interval.
  public func stop() { self.state.withLock { $0.stopped = true } }

  private var isStopped: Bool { self.state.withLock { $0.stopped } }

  /// Listens until `stop()`, reconnecting after any failure; blocks its thread (run it on one of its own).
  public func run() {
    var failing = false
    while !self.isStopped {
      do {
        let connection = try PostgresConnection(conninfo: self.configuration.conninfo)
        try connection.execute("LISTEN \(self.configuration.channel)")
        self.state.withLock { $0.listening = true }
        // Anything sent before this LISTEN, or while the last connection was lost, was missed.
        self.onGap()
        if failing { self.logger.notice("listening again", metadata: ["channel": "\(self.configuration.channel)"]) }
        failing = false
        try self.deliver(from: connection)
      } catch {
        self.state.withLock { $0.listening = false }
        if !failing {
          self.logger.warning(
            "lost the database notifications; cached key checks start over",
            metadata: ["channel": "\(self.configuration.channel)", "error": "\(error)"])
        }
        failing = true
        self.onGap()
        self.sleep(self.configuration.reconnectBackoff)
      }
    }
    self.state.withLock { $0.listening = false }
  }

  /// Waits for the socket, reads what arrived and hands on every notification, until `stop()` or a failure.
  private func deliver(from connection: PostgresConnection) throws {
    let handle = try connection.connection()
    let (seconds, attoseconds) = self.configuration.pollInterval.components
    let timeout = Int32(clamping: seconds * 1_000 + attoseconds / 1_000_000_000_000_000)
    while !self.isStopped {
      var socket = pollfd(fd: PQsocket(handle), events: Int16(POLLIN), revents: 0)
      guard socket.fd >= 0 else {
        throw PostgresError(sqlState: nil, message: "the listening connection has no socket")
      }
      guard poll(&socket, 1, timeout) >= 0 || errno == EINTR else {
        throw PostgresError(sqlState: nil, message: "poll: \(String(cString: strerror(errno)))")
      }
      guard PQconsumeInput(handle) == 1, PQstatus(handle) == CONNECTION_OK else {
        throw PostgresError(sqlState: nil, message: String(cString: PQerrorMessage(handle)).trimmingTrailingNewlines)
      }
      while let notification = PQnotifies(handle) {
        defer { PQfreemem(notification) }
        self.onPayload(String(cString: notification.pointee.extra))
      }
    }
  }

  private func sleep(_ duration: Duration) {
    let deadline = ContinuousClock.now + duration
    while !self.isStopped, ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.05) }
  }
}
