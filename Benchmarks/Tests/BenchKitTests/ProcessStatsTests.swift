import Foundation
import Testing

@testable import BenchKit

/// /proc parsing, on the text Linux writes, a command name with spaces and parentheses included.
@Suite struct ProcessStatsTests {
  static let status = "Name:\ttallyd\nVmPeak:\t  900000 kB\nVmHWM:\t   48816 kB\nVmRSS:\t   40000 kB\nThreads:\t9\n"

  @Test func cpuAndMemoryComeFromTheirFields() throws {
    let stat = "4242 (tally d (dev)) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 75 0 0 20 0 9 0 100 0 0"
    let stats = try #require(ProcessStats.parse(stat: stat, status: Self.status, ticksPerSecond: 100))
    #expect(stats.cpuSeconds == 3.25)
    #expect(stats.peakRSS == 48_816 * 1_024 && stats.rss == 40_000 * 1_024)
  }

  @Test func truncatedTextGivesNothing() {
    #expect(ProcessStats.parse(stat: "4242 (tallyd) S 1 2", status: Self.status, ticksPerSecond: 100) == nil)
    #expect(ProcessStats.parse(stat: "no parenthesis", status: "", ticksPerSecond: 100) == nil)
  }

  @Test func aProcessTreeCountsItsParentAndTimes() throws {
    let stat = "4242 (postgres: tally (x)) S 4200 4242 4242 0 -1 4194560 1000 0 0 0 250 75 40 10 20 0 9 0 100 0 0"
    let cpu = try #require(ProcessCPU(stat: stat))
    #expect(cpu.parent == 4200 && cpu.ownTicks == 325 && cpu.reapedChildrenTicks == 50)
    #expect(ProcessCPU(stat: "4242 (postgres) S 4200 1 2 3") == nil)
  }

  /// A child that burns CPU and is reaped still counts: its time moved to this process's cutime.
  @Test func aTreeKeepsTheTimeOfAChildItReaped() throws {
    let before = try #require(ProcessStats.treeCPUSeconds(root: getpid()))
    let child = Process()
    child.executableURL = URL(fileURLWithPath: "/bin/sh")
    child.arguments = ["-c", "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done"]
    try child.run()
    child.waitUntilExit()
    let after = try #require(ProcessStats.treeCPUSeconds(root: getpid()))
    #expect(after - before >= 0.05, "\(after - before) s")
  }

  @Test func theReadingOfThisProcessIsPlausible() throws {
    let own = try #require(ProcessStats.read(pid: getpid()))
    #expect(own.cpuSeconds >= 0 && own.peakRSS >= own.rss && own.rss > 1_000_000)
  }
}
