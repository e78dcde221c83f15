import Synchronization
import Testing

@testable import BenchKit

/// The load loop: calls counted until the deadline, and a task that runs out of work stops.
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
}

/// Numbers the calls across tasks.
final class CallCounter: Sendable {
  private let next = Atomic<Int>(0)

  func take() -> Int { self.next.add(1, ordering: .relaxed).oldValue }
}
