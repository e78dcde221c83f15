import Testing

@testable import TallyClient

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

  /// A call sent again gets what is left of its timeout, and is not sent when its wait passes it.
  @Test func anAttemptAfterAWaitGetsWhatIsLeftOfTheTimeoutOrNone() throws {
    let now = ContinuousClock.now
    let options = CallOptions(timeout: .seconds(1), requestID: "r")
    let deadline = now + .milliseconds(500)
    let next = try #require(options.forAttempt(after: .milliseconds(200), deadline: deadline, now: now))
    #expect(next.timeout == .milliseconds(300))
    #expect(next.requestID == "r")
    #expect(options.forAttempt(after: .milliseconds(990), deadline: deadline, now: now) == nil)
    #expect(options.forAttempt(after: .milliseconds(500), deadline: deadline, now: now) == nil, "none left at all")
    let untimed = CallOptions()
    #expect(untimed.forAttempt(after: .seconds(3600), deadline: nil, now: now)?.timeout == nil)
  }
}

/// The waits between attempts of a call a busy or lost server refused.
@Suite struct RetryBackoffTests {
  @Test func eachWaitDoublesUpToTwoSecondsAndJitterTakesUpToHalf() {
    let configuration = ClientConfiguration(host: "localhost", port: 1, apiKey: "k", retryBackoff: .milliseconds(50))
    #expect(configuration.backoff(beforeAttempt: 2, jitter: 1) == .milliseconds(50))
    #expect(configuration.backoff(beforeAttempt: 3, jitter: 1) == .milliseconds(100))
    #expect(configuration.backoff(beforeAttempt: 4, jitter: 0.5) == .milliseconds(100))
    #expect(configuration.backoff(beforeAttempt: 8, jitter: 1) == .seconds(2))
    #expect(configuration.backoff(beforeAttempt: .max, jitter: 1) == .seconds(2), "no overflow on many attempts")
    let drawn = configuration.backoff(beforeAttempt: 2)
    #expect(drawn >= .milliseconds(25) && drawn <= .milliseconds(50))
  }
}

/// BoringSSL's reason, read out of its error text.
@Suite struct ConnectionFailureTests {
  @Test func theReasonIsTheWordAfterTheLibraryName() {
    let text =
      "sslError([Error: 268435581 error:1000007d:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED at /x/handshake.cc:393])"
    #expect(ConnectionFailure.tlsReason(text) == "CERTIFICATE_VERIFY_FAILED")
    #expect(ConnectionFailure.tlsReason("sslError([])") == nil)
    #expect(ConnectionFailure.tlsReason("OPENSSL_internal: at") == nil)
  }
}
