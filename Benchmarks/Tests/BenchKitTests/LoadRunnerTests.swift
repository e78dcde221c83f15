import ArgumentParser
import Synchronization
import Testing

@testable import BenchKit

/// The load loop: calls start until the deadline and all of them count, and a task that runs out of
/// work stops.
@Suite struct LoadRunnerTests {
  @Test func anExhaustedTaskStopsInsteadOfSpinning() async {
    let sent = CallCounter()
    let runner = LoadRunner(concurrency: 4, duration: .seconds(5))
    let clock = ContinuousClock()
    let started = clock.now
    let result = await runner.run(clients: [()]) { _ in
      let index = sent.take()
      guard index < 100 else { throw LoadExhausted("out of tokens") }
      return 1
    }
    // Each of the 4 tasks stops at its first exhausted call, long before the 5 s deadline.
    #expect(clock.now - started < .seconds(4))
    #expect(result.calls == 100 && result.units == 100)
    #expect(result.errors == 4 && result.firstError == "out of tokens")
  }

  @Test func aCallInFlightAtTheDeadlineCountsAndNoneStartsAfterIt() async {
    let started = CallCounter()
    let runner = LoadRunner(concurrency: 1, duration: .milliseconds(500))
    let result = await runner.run(clients: [()]) { _ in
      _ = started.take()
      try await Task.sleep(for: .seconds(1))
      return 7
    }
    #expect(started.take() == 1)
    #expect(result.calls == 1 && result.units == 7 && result.errors == 0)
    #expect(result.elapsed >= .seconds(1))
  }

  @Test func ratesAreOverTheTimeUntilTheLastCallEnded() async throws {
    let options = try LoadOptions.parse(["--duration", "0.3", "--warmup", "0"])
    let report = try await LoadScenario.measure("sleep", unit: "things", options: options, clients: [()]) { _ in
      try await Task.sleep(for: .milliseconds(600))
      return 10
    }
    #expect(report.calls == 1 && report.durationSeconds >= 0.6)
    #expect(report.unitsPerSecond == 10 / report.durationSeconds)
    #expect(report.callsPerSecond == 1 / report.durationSeconds)
  }
}

/// Numbers the calls across tasks.
final class CallCounter: Sendable {
  private let next = Atomic<Int>(0)

  func take() -> Int { self.next.add(1, ordering: .relaxed).oldValue }
}
