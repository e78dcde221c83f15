import Foundation

/// CPU time and peak memory of a process, read from /proc (Linux): the server's cost of a run.
public struct ProcessStats: Sendable, Equatable {
  /// User plus system CPU seconds so far.
  public var cpuSeconds: Double
  /// VmHWM: the peak resident set size so far, in bytes.
  public var peakRSS: UInt64
  /// VmRSS: the resident set size now, in bytes.
  public var rss: UInt64

  /// nil when the process is gone or /proc is not there.
  public static func read(pid: Int32) -> ProcessStats? {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
      let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
    else { return nil }
    return Self.parse(stat: stat, status: status, ticksPerSecond: Double(sysconf(Int32(_SC_CLK_TCK))))
  }

  /// Sets the process's VmHWM back to its RSS now (`clear_refs` 5), so that the next read's peak
  /// is that of the run after this call, not of the process's whole life (an earlier stage's
  /// 1,000 idle connections, say). False where Linux refuses it (another user's process).
  @discardableResult
  public static func resetPeak(pid: Int32) -> Bool {
    (try? Data("5".utf8).write(to: URL(fileURLWithPath: "/proc/\(pid)/clear_refs"))) != nil
  }

  /// CPU seconds of a process and of its children, live or reaped: PostgreSQL's postmaster and
  /// its backends, whose work a database call costs besides the server's. nil when it is gone.
  public static func treeCPUSeconds(root: Int32) -> Double? {
    let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
    func cpu(_ pid: Int32) -> ProcessCPU? {
      (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)).flatMap(ProcessCPU.init(stat:))
    }
    guard let rootCPU = cpu(root), ticks > 0 else { return nil }
    let pids = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { Int32($0) }
    let children = pids.compactMap(cpu).filter { $0.parent == root }
    return (rootCPU.ownTicks + rootCPU.reapedChildrenTicks + children.map(\.ownTicks).reduce(0, +)) / ticks
  }

  /// utime and stime from stat (`ProcessCPU`), VmHWM and VmRSS from status.
  static func parse(stat: String, status: String, ticksPerSecond: Double) -> ProcessStats? {
    guard let cpu = ProcessCPU(stat: stat), ticksPerSecond > 0 else { return nil }
    func kilobytes(_ key: String) -> UInt64 {
      let line = status.split(separator: "\n").first { $0.hasPrefix(key + ":") }
      let words = line?.split(whereSeparator: { $0 == " " || $0 == "\t" })
      return (words?.dropFirst().first).flatMap { UInt64($0) }.map { $0 * 1_024 } ?? 0
    }
    return ProcessStats(
      cpuSeconds: cpu.ownTicks / ticksPerSecond, peakRSS: kilobytes("VmHWM"), rss: kilobytes("VmRSS"))
  }
}

/// The CPU fields of one /proc/PID/stat, in clock ticks.
struct ProcessCPU: Equatable {
  var parent: Int32
  /// utime + stime.
  var ownTicks: Double
  /// cutime + cstime: the children it has waited for, which a live child's own ticks leave out.
  var reapedChildrenTicks: Double

  /// Fields 4 (the parent) and 14 to 17 (the times) come after the command name, which may hold
  /// spaces and parentheses: counted from the last ")".
  init?(stat: String) {
    guard let close = stat.lastIndex(of: ")") else { return nil }
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    guard fields.count > 14, let parent = Int32(fields[1]) else { return nil }
    let times = fields[11...14].compactMap { Double($0) }
    guard times.count == 4 else { return nil }
    (self.parent, self.ownTicks, self.reapedChildrenTicks) = (parent, times[0] + times[1], times[2] + times[3])
  }
}
