import ArgumentParser
import Synchronization
import Testing

@testable import BenchKit

/// The load loop: calls start until the deadline and all of them count, and a task that runs out of
/// work stops.
@Suite struct LoadRunnerTests {
  @Test func anExhaustedTaskStopsInsteadOfSpinning() async {
    let sent = CallCounter()
    let runner = LoadRunner(concurrency: 4, duration: .seconds(60))
    let clock = ContinuousClock()
    let started = clock.now
    let result = await runner.run(clients: [()]) { _ in
      let index = sent.take()
      guard index < 100 else { throw LoadExhausted("out of tokens") }
      return 1
    }
    // Each of the 4 tasks stops at its first exhausted call, long before the 60 s deadline (with
    // a 5 s one, a loaded machine left too little room to tell the two apart).
    #expect(clock.now - started < .seconds(30))
    #expect(result.calls == 100 && result.units == 100)
    #expect(result.errors == 4 && result.firstError == "out of tokens")
  }

  @Test func aCallInFlightAtTheDeadlineCountsAndNoneStartsAfterIt() async {
    let started = CallCounter()
    // The first call starts within the 2 s (a loaded machine may not start it within 500 ms).
    let runner = LoadRunner(concurrency: 1, duration: .seconds(2))
    let result = await runner.run(clients: [()]) { _ in
      _ = started.take()
      try await Task.sleep(for: .seconds(3))
      return 7
    }
    #expect(started.take() == 1)
    #expect(result.calls == 1 && result.units == 7 && result.errors == 0)
    #expect(result.elapsed >= .seconds(3))
  }

  @Test func ratesAreOverTheTimeUntilTheLastCallEnded() async throws {
    let options = try LoadOptions.parse(["--duration", "1", "--warmup", "0"])
    let report = try await LoadScenario.measure("sleep", unit: "things", options: options, clients: [()]) { _ in
      try await Task.sleep(for: .milliseconds(1_500))
      return 10
    }
    #expect(report.calls == 1 && report.durationSeconds >= 1.5)
    #expect(report.unitsPerSecond == 10 / report.durationSeconds)
    #expect(report.callsPerSecond == 1 / report.durationSeconds)
  }
}

/// Numbers the calls across tasks.
final class CallCounter: Sendable {
  private let next = Atomic<Int>(0)

  func take() -> Int { self.next.add(1, ordering: .relaxed).oldValue }
}
