import ArgumentParser
import BenchKit
import Foundation
import TallyClient

/// `tally-bench idle`: what open connections cost the server. Opens `--connections` TLS connections,
/// each through HELLO (a Ping proves it), and reads the server's resident memory before and after.
struct IdleScenario: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "idle", abstract: "Server memory per open TLS connection after HELLO.")
  @OptionGroup var options: BenchOptions

  struct Result: Codable {
    var connections: Int
    var rssBeforeBytes: UInt64
    var rssAfterBytes: UInt64
    var bytesPerConnection: Double
  }

  func run() async throws {
    guard let pid = self.options.load.serverPid, let before = ProcessStats.read(pid: pid) else {
      throw ValidationError("idle needs --server-pid of a running server")
    }
    let clients = try await Scenario.connect(self.options)
    // Let the server settle: allocations freed after the handshakes go back before the reading.
    try await Task.sleep(for: .seconds(1))
    guard let after = ProcessStats.read(pid: pid) else { throw ValidationError("the server is gone") }
    for client in clients { await client.close() }
    let count = clients.count
    let result = Result(
      connections: count, rssBeforeBytes: before.rss, rssAfterBytes: after.rss,
      bytesPerConnection: (Double(after.rss) - Double(before.rss)) / Double(count))
    print(
      String(
        format: "idle: %d connections: server RSS %.1f MB → %.1f MB, %.1f KB per connection", count,
        Double(before.rss) / 1_048_576, Double(after.rss) / 1_048_576, result.bytesPerConnection / 1_024))
    if let path = self.options.load.json {
      try BenchJSON.write(result, to: path)
    }
  }
}
