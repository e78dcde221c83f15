import TallyClient
import Testing

/// `--timeout` as `CallOptions.timeout(seconds:)` reads it.
@Suite struct CallOptionsTests {
  @Test func timeoutsFromAFractionOfASecondToThirtyDaysAreTaken() {
    #expect(CallOptions.timeout(seconds: 0.25) == .milliseconds(250))
    #expect(CallOptions.timeout(seconds: 30) == .seconds(30))
    #expect(CallOptions.timeout(seconds: 2_592_000) == CallOptions.maxTimeout)
  }

  /// Past 30 days, and as far as numbers `Duration.seconds` would trap on, the value is refused.
  @Test(arguments: [0, -1, 2_592_000.5, 1e21, .infinity, -.infinity, .nan])
  func timeoutsOutsideThatAreRefused(_ seconds: Double) {
    #expect(CallOptions.timeout(seconds: seconds) == nil)
  }
}
