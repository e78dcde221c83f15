import Foundation

/// How many parallel workers a durable embedded cluster's statements may start, from the machine's
/// cores.
///
/// A KPI read already runs its statements on two connections at once (`SnapshotReads`), so on two
/// cores a parallel worker only adds a process to start and a third backend to share them with:
/// without workers the largest dashboard of the 10M-event set answered 4 to 6 % sooner
/// (docs/BENCHMARKS.md). Each of the two connections gets half the cores, its own backend included.
/// `ALTER SYSTEM` overrides it.
struct ClusterCores: Sendable, Hashable {
  /// Cores the cluster may count on.
  var count: Int

  /// The cores this process may run on.
  static func current() -> ClusterCores {
    ClusterCores(count: ProcessInfo.processInfo.activeProcessorCount)
  }

  var parallelWorkersPerGather: Int { max(0, self.count / 2 - 1) }

  /// postgresql.conf lines.
  var settings: String {
    "max_parallel_workers_per_gather = \(self.parallelWorkersPerGather)\n"
  }
}
