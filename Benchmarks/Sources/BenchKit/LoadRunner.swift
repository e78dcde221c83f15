public import Histogram

/// Runs one call shape from `clients.count` connections × `concurrency` tasks each, for `duration`.
/// Each task keeps its own latency histogram (microseconds); they are merged at the end, so
/// recording costs no lock on the hot path. No call starts after the deadline; every call started
/// before it is counted, and the rates are over the time until the last one ended: a ten-second run
/// of one-second calls would otherwise drop up to a tenth of its work (the server's CPU, read after
/// the run, includes it).
public struct LoadRunner: Sendable {
  public var concurrency: Int
  public var duration: Duration

  public init(concurrency: Int, duration: Duration) {
    self.concurrency = concurrency
    self.duration = duration
  }

  public struct Result: Sendable {
    public var calls: UInt64 = 0
    public var errors: UInt64 = 0
    /// What the calls carried, e.g. events for ingestion; calls when a call carries one thing.
    public var units: UInt64 = 0
    public var firstError = ""
    /// From the run's start to the end of its last call.
    public var elapsed: Duration = .zero
    /// Up to 10 minutes, past any call's timeout: a value past the top would be dropped unseen.
    static let longestMicros: UInt64 = 600_000_000
    public var latencies = Histogram<UInt64>(
      highestTrackableValue: Self.longestMicros, numberOfSignificantValueDigits: .three)

    public init() {}

    /// One call that carried `units`, with its latency.
    public mutating func record(units: UInt64, micros: Int64) {
      self.calls += 1
      self.units += units
      _ = self.latencies.record(min(UInt64(max(micros, 1)), Self.longestMicros))
    }

    mutating func merge(_ other: Result) {
      self.calls += other.calls
      self.errors += other.errors
      self.units += other.units
      if self.firstError.isEmpty { self.firstError = other.firstError }
      self.elapsed = max(self.elapsed, other.elapsed)
      self.latencies.add(other.latencies)
    }
  }

  /// `call` returns how many units it carried. Each client's tasks prefer `executor(client)`, if any
  /// (a TallyClient's connection loop, so that its calls cost no hop to Swift's global pool).
  public func run<Client: Sendable>(
    clients: [Client], executor: @Sendable (Client) -> (any TaskExecutor)? = { _ in nil },
    _ call: @escaping @Sendable (Client) async throws -> UInt64
  ) async -> Result {
    let clock = ContinuousClock()
    let start = clock.now
    let end = start.advanced(by: self.duration)
    return await withTaskGroup(of: Result.self) { group in
      for client in clients {
        let preferred = executor(client)
        for _ in 0..<self.concurrency {
          group.addTask(executorPreference: preferred) {
            var result = Result()
            while true {
              let started = clock.now
              guard started < end else { break }
              do {
                let units = try await call(client)
                result.record(units: units, micros: (clock.now - started).microseconds)
              } catch {
                result.errors += 1
                if result.firstError.isEmpty { result.firstError = String(describing: error) }
                // Nothing left to send (tokens spent): this task stops instead of spinning on errors.
                if error is LoadExhausted { break }
              }
              result.elapsed = clock.now - start
            }
            return result
          }
        }
      }
      var total = Result()
      for await part in group { total.merge(part) }
      return total
    }
  }
}

extension Duration {
  /// Whole microseconds, for the latency histograms.
  public var microseconds: Int64 {
    self.components.seconds * 1_000_000 + self.components.attoseconds / 1_000_000_000_000
  }

  public var seconds: Double {
    Double(self.components.seconds) + Double(self.components.attoseconds) / 1e18
  }
}

/// Thrown by a call that has nothing left to send, such as a scenario's pre-issued tokens: the
/// task that gets it stops, counting it as one error.
public struct LoadExhausted: Error, CustomStringConvertible {
  public var description: String

  public init(_ description: String) { self.description = description }
}
