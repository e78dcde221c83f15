import Foundation
import Glibc

/// What a durable embedded cluster (`tallyd dev`) is sized to: the memory of the machine, or of its
/// cgroup when that is less.
///
/// PostgreSQL's defaults (128 MB of shared buffers, a checkpoint per GB of WAL) suit a laptop's
/// first look, not a data set: once the indexes outgrow the buffers, inserts evict dirty pages,
/// and frequent checkpoints rewrite whole pages to the WAL (docs/BENCHMARKS.md: a sustained ingest
/// 20 to 40 % slower). PostgreSQL's guide suggests a quarter of memory for shared buffers;
/// `ALTER SYSTEM` overrides any of these lines.
struct ClusterMemory: Sendable, Hashable {
  static let megabyte: UInt64 = 1 << 20
  static let minimumSharedBuffers: UInt64 = 128 * megabyte
  static let maximumSharedBuffers: UInt64 = 8 * 1024 * megabyte

  /// Bytes of memory the cluster may count on.
  var bytes: UInt64

  /// The machine's physical memory, or its cgroup's limit (v2 `memory.max`, v1 `memory.limit_in_bytes`) when lower.
  static func current() -> ClusterMemory {
    let pages = UInt64(max(0, sysconf(Int32(_SC_PHYS_PAGES))))
    let pageSize = UInt64(max(0, sysconf(Int32(_SC_PAGESIZE))))
    var bytes = pages * pageSize
    // cgroup v2, then v1 (whose "no limit" is a huge number, which `min` leaves alone).
    for file in ["/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"] {
      if let text = try? String(contentsOfFile: file, encoding: .utf8),
        let limit = UInt64(text.trimmingCharacters(in: .whitespacesAndNewlines)), limit > 0
      {
        bytes = min(bytes, limit)
      }
    }
    return ClusterMemory(bytes: bytes)
  }

  /// A quarter of memory, within 128 MB (PostgreSQL's default) and 8 GB, in whole megabytes.
  var sharedBuffersMegabytes: UInt64 {
    min(max(self.bytes / 4, Self.minimumSharedBuffers), Self.maximumSharedBuffers) / Self.megabyte
  }

  /// postgresql.conf lines: the shared buffers, and checkpoints four times further apart than the
  /// default, so that a bulk load writes each page's full image to the WAL less often.
  var settings: String {
    """
    shared_buffers = \(self.sharedBuffersMegabytes)MB
    max_wal_size = 4GB

    """
  }
}

/// The memory this process may count on: the machine's, or its cgroup's limit when lower
/// (a container's limit, which `ProcessInfo.physicalMemory` does not see).
public enum MachineMemory {
  public static var bytes: UInt64 { ClusterMemory.current().bytes }
}
