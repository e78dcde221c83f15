import Foundation
import TallyTestSupport
import Testing

@testable import TallyStore

/// How a durable embedded cluster sizes itself to the machine's memory and cores.
@Suite struct ClusterMemoryTests {
  @Test(arguments: [
    (UInt64(512) << 20, UInt64(128)),  // below PostgreSQL's default: the default
    (UInt64(2) << 30, UInt64(512)),
    (UInt64(24) << 30, UInt64(6_144)),
    (UInt64(256) << 30, UInt64(8_192)),  // at most 8 GB
  ])
  func sharedBuffersAreAQuarterOfMemoryWithinBounds(memory: UInt64, megabytes: UInt64) {
    #expect(ClusterMemory(bytes: memory).sharedBuffersMegabytes == megabytes)
    #expect(ClusterMemory(bytes: memory).settings.contains("shared_buffers = \(megabytes)MB\n"))
  }

  @Test(arguments: [(1, 0), (2, 0), (3, 0), (4, 1), (8, 3), (64, 31)])
  func parallelWorkersTakeTheCoresBeyondAKpiReadsTwoConnections(cores: Int, workers: Int) {
    #expect(ClusterCores(count: cores).parallelWorkersPerGather == workers)
    #expect(ClusterCores(count: cores).settings == "max_parallel_workers_per_gather = \(workers)\n")
  }

  @Test func thisMachineHasMemoryToCountOn() {
    #expect(ClusterMemory.current().bytes >= 256 << 20)
  }

  @Test func aDurableClusterRunsWithTheSettingsAndAThrowawayOneWithoutThem() async throws {
    // initdb and the clusters' starts block for seconds: off the cooperative pool.
    try await onOwnThread {
      let directory = try makeTemporaryDirectory()
      defer { try? FileManager.default.removeItem(atPath: directory) }
      let expected = ClusterMemory.current().sharedBuffersMegabytes
      let workers = ClusterCores.current().parallelWorkersPerGather
      let query = """
        SELECT (SELECT setting::bigint * 8 / 1024 FROM pg_settings WHERE name = 'shared_buffers'),
          (SELECT setting FROM pg_settings WHERE name = 'max_wal_size'), current_setting('max_parallel_workers_per_gather')
        """
      for durable in [true, false] {
        let postgres = EmbeddedPostgres(directory: "\(directory)/\(durable)", durable: durable)
        defer { try? postgres.destroy() }
        let endpoints = try postgres.start()
        let shown = try psql(endpoints.superuserURL, query)
        #expect(shown == (durable ? "\(expected)|4096|\(workers)" : "128|1024|2"), "durable: \(durable)")
        try postgres.stop()
      }
    }
  }
}
