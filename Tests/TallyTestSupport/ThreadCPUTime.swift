#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// The CPU time the calling thread spends running `body`: a bound on it holds on a loaded machine,
/// where a wall-clock bound fails whenever the thread waits for a core.
public func threadCPUTime<T>(_ body: () throws -> T) rethrows -> (T, Duration) {
  func now() -> Duration {
    var time = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
    return .seconds(time.tv_sec) + .nanoseconds(time.tv_nsec)
  }
  let started = now()
  let result = try body()
  return (result, now() - started)
}
