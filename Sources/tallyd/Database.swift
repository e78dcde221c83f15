import ArgumentParser
import Foundation
import TallyStore

/// `tallyd db`: the embedded PostgreSQL cluster on its own, for `make test` (scripts/with-test-postgres)
/// and for looking at a development database with psql.
struct Database: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "db",
    abstract: "Start or stop an embedded PostgreSQL cluster (DIR/pg), made with the system's PostgreSQL.",
    subcommands: [Start.self, Stop.self]
  )

  /// Makes the cluster if needed, starts it if stopped, and prints where to reach it.
  struct Start: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Create (first time) and start the cluster; print its endpoints as JSON.",
      discussion: """
        Prints {"owner_url", "app_url", "superuser_url", "socket_directory", "port"} on stdout.
        A second start on the same directory reuses the running cluster.
        """
    )

    @Option(help: "The directory the cluster lives in (DIR/pg).")
    var dataDir: String

    @Option(help: "Also listen on 127.0.0.1:PORT (default: the Unix socket only, named for port 5432).")
    var port: Int?

    @Flag(help: "A cluster for tests: fsync and full-page writes off (fast, lost on a crash).")
    var throwaway = false

    func validate() throws {
      if let port = self.port, !(1...65535).contains(port) {
        throw ValidationError("--port must be 1...65535, got \(port)")
      }
    }

    func run() throws {
      let postgres = EmbeddedPostgres(directory: self.dataDir, port: self.port, durable: !self.throwaway)
      let endpoints = try postgres.start()
      let encoder = JSONEncoder()
      encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
      let json = try encoder.encode(EndpointsJSON(endpoints))
      print(String(decoding: json, as: UTF8.self))
    }
  }

  /// Stops the cluster, and with --destroy deletes it.
  struct Stop: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Stop the cluster (no error if it is not running).")

    @Option(help: "The directory the cluster lives in (DIR/pg).")
    var dataDir: String

    @Flag(help: "Also delete DIR/pg and everything in it.")
    var destroy = false

    func run() throws {
      let postgres = EmbeddedPostgres(directory: self.dataDir)
      if self.destroy { try postgres.destroy() } else { try postgres.stop() }
    }
  }
}

/// The JSON shape scripts read: snake_case keys, stable across releases.
private struct EndpointsJSON: Encodable {
  var ownerURL: String
  var appURL: String
  var superuserURL: String
  var socketDirectory: String
  var port: Int

  init(_ endpoints: EmbeddedPostgres.Endpoints) {
    self.ownerURL = endpoints.ownerURL
    self.appURL = endpoints.appURL
    self.superuserURL = endpoints.superuserURL
    self.socketDirectory = endpoints.socketDirectory
    self.port = endpoints.port
  }

  enum CodingKeys: String, CodingKey {
    case ownerURL = "owner_url"
    case appURL = "app_url"
    case superuserURL = "superuser_url"
    case socketDirectory = "socket_directory"
    case port
  }
}
