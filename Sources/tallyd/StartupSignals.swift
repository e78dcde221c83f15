import Dispatch
import NIOConcurrencyHelpers

#if canImport(Glibc)
  import Glibc
#endif

/// SIGTERM and SIGINT that arrive while `tallyd dev` starts (its cluster, migrations, keys), before
/// the service group handles them: their default action killed tallyd there, and the embedded
/// cluster it had started kept running. They are held until the start is done.
final class StartupSignals {
  private let sources: [any DispatchSourceSignal]
  private let received = NIOLockedValueBox(false)

  init(_ signals: [Int32] = [SIGTERM, SIGINT]) {
    let queue = DispatchQueue(label: "tallyd.startup-signals")
    self.sources = signals.map { number in
      signal(number, SIG_IGN)  // a dispatch source sees the signal only while its action ignores it
      return DispatchSource.makeSignalSource(signal: number, queue: queue)
    }
    for source in self.sources {
      source.setEventHandler { [received] in received.withLockedValue { $0 = true } }
      source.resume()
    }
  }

  /// Whether one came; the sources stop, and the service group's own take over.
  func finish() -> Bool {
    for source in self.sources { source.cancel() }
    return self.received.withLockedValue { $0 }
  }
}
