/// Polls `condition` every `interval` until it holds or `timeout` has passed; its last answer.
/// Throws only if the task is cancelled.
public func waitUntil(
  timeout: Duration = .seconds(10), every interval: Duration = .milliseconds(10), _ condition: () -> Bool
) async throws -> Bool {
  let deadline = ContinuousClock.now + timeout
  while ContinuousClock.now < deadline {
    if condition() { return true }
    try await Task.sleep(for: interval)
  }
  return condition()
}
