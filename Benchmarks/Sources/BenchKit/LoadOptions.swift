public import ArgumentParser

/// The load's shape and what to report: the options every scenario and baseline shares, so that
/// both sides of a comparison are driven the same way.
public struct LoadOptions: ParsableArguments, Sendable {
  @Option(help: "Connections (one client each).") public var connections = 1
  @Option(help: "Calls in flight per connection.") public var concurrency = 1
  @Option(help: "Seconds in which calls start (those in flight then finish and count).") public var duration = 10.0
  @Option(help: "Seconds of calls before the measurement.") public var warmup = 2.0
  @Option(help: "The server's pid: its CPU seconds and peak RSS are read from /proc.") public var serverPid: Int32?
  @Option(
    help:
      "The database's postmaster pid (DATA/pg/postmaster.pid): its and its backends' CPU seconds are read from /proc."
  ) public var databasePid: Int32?
  @Option(help: "Also write the result as JSON to this file.") public var json: String?

  public init() {}

  public func validate() throws {
    guard (1...1_000).contains(self.connections) else { throw ValidationError("--connections must be 1 to 1000") }
    guard (1...10_000).contains(self.concurrency) else { throw ValidationError("--concurrency must be 1 to 10000") }
    guard self.duration > 0, self.warmup >= 0 else { throw ValidationError("--duration must be > 0, --warmup ≥ 0") }
  }
}
