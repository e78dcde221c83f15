import Foundation
import TallyStore
import TallyTestSupport
import Testing

/// The embedded cluster that `tallyd dev` and `make test` rely on, made from scratch in a temporary directory
/// (independent of the cluster `make test` starts).
@Suite struct EmbeddedPostgresTests {
  @Test func throwawayClusterHasTheRolesOfTheDesignAndSurvivesARestart() async throws {
    // initdb and the cluster's start block for seconds: off the cooperative pool.
    try await onOwnThread {
      let directory = try makeTemporaryDirectory()
      defer { try? FileManager.default.removeItem(atPath: directory) }
      let postgres = EmbeddedPostgres(directory: directory, durable: false)
      defer { try? postgres.destroy() }

      let endpoints = try postgres.start()
      #expect(endpoints.port == EmbeddedPostgres.defaultPort)
      #expect(endpoints.socketDirectory == "\(directory)/pg")

      // The runtime role must be subject to row-level security: not superuser, no BYPASSRLS.
      let appRole = try psql(
        endpoints.superuserURL,
        "SELECT rolsuper, rolbypassrls, rolcanlogin FROM pg_roles WHERE rolname = 'tally_app'"
      )
      #expect(appRole == "f|f|t")
      let ownerRole = try psql(
        endpoints.superuserURL, "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = 'tally_owner'")
      #expect(ownerRole == "f|f")
      #expect(try psql(endpoints.appURL, "SELECT current_user, current_database()") == "tally_app|tally")
      let owners = try psql(
        endpoints.ownerURL,
        """
        SELECT pg_get_userbyid(d.datdba), pg_get_userbyid(n.nspowner)
        FROM pg_database d, pg_namespace n WHERE d.datname = 'tally' AND n.nspname = 'public'
        """
      )
      #expect(owners == "tally_owner|tally_owner")
      // tally_app owns nothing and creates nothing.
      #expect(throws: PsqlError.self) { try psql(endpoints.appURL, "CREATE TABLE sneaky (id int)") }
      // Text compares as bytes (PostgreSQL's fast path), in code point order for UTF-8 text.
      #expect(try psql(endpoints.appURL, "SHOW lc_collate") == "C")
      let sorted = try psql(endpoints.appURL, "SELECT string_agg(w, ' ' ORDER BY w) FROM unnest('{b,é,Z,a}'::text[]) w")
      #expect(sorted == "Z a b é")
      #expect(try psql(endpoints.appURL, "SELECT lower('ÉTÉ')") == "été")

      #expect(try postgres.start() == endpoints)

      try psql(endpoints.ownerURL, "CREATE TABLE kept (id int); INSERT INTO kept VALUES (42)")
      try postgres.stop()
      #expect(throws: PsqlError.self) { try psql(endpoints.ownerURL, "SELECT 1") }
      try postgres.stop()
      #expect(try postgres.start() == endpoints)
      #expect(try psql(endpoints.ownerURL, "SELECT id FROM kept") == "42")

      try postgres.destroy()
      #expect(!FileManager.default.fileExists(atPath: "\(directory)/pg"))
      try postgres.destroy()
      try postgres.stop()
    }
  }

  @Test func aDirectoryTooLongForASocketPathGetsOneUnderTmp() async throws {
    // initdb and the cluster's start block for seconds: off the cooperative pool.
    try await onOwnThread {
      let base = try makeTemporaryDirectory()
      defer { try? FileManager.default.removeItem(atPath: base) }
      let directory = "\(base)/\(String(repeating: "d", count: 100))"
      let postgres = EmbeddedPostgres(directory: directory, durable: false)
      defer { try? postgres.destroy() }

      let endpoints = try postgres.start()
      #expect(endpoints.socketDirectory.hasPrefix("/tmp/tally-pg-"))
      #expect(try psql(endpoints.appURL, "SELECT current_user") == "tally_app")

      try postgres.destroy()
      #expect(!FileManager.default.fileExists(atPath: endpoints.socketDirectory))
    }
  }

  /// The socket directory under /tmp is refused when something else holds its name: a symlink
  /// (whose target must not be handed to the cluster's user) or a directory others can open.
  @Test func aSocketDirectoryNameHeldByAnythingElseIsRefused() async throws {
    try await onOwnThread {
      let base = try makeTemporaryDirectory()
      defer { try? FileManager.default.removeItem(atPath: base) }
      let postgres = EmbeddedPostgres(directory: "\(base)/\(String(repeating: "s", count: 100))", durable: false)
      defer { try? postgres.destroy() }
      let socket = postgres.socketDirectory
      #expect(socket.hasPrefix("/tmp/tally-pg-"))
      let target = "\(base)/elsewhere"
      try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: false)
      let ownerBefore = try FileManager.default.attributesOfItem(atPath: target)[.ownerAccountID] as? NSNumber
      try FileManager.default.createSymbolicLink(atPath: socket, withDestinationPath: target)
      #expect(throws: EmbeddedPostgresError.self) { try postgres.start() }
      #expect(try FileManager.default.attributesOfItem(atPath: target)[.ownerAccountID] as? NSNumber == ownerBefore)
      try FileManager.default.removeItem(atPath: socket)

      try FileManager.default.createDirectory(atPath: socket, withIntermediateDirectories: false)
      #expect(chmod(socket, 0o777) == 0)
      let error = #expect(throws: EmbeddedPostgresError.self) { try postgres.start() }
      #expect(error?.description.contains("mode 700") == true)
      try FileManager.default.removeItem(atPath: socket)
    }
  }
}

/// Under /tmp, not $TMPDIR, to keep socket paths short; 755 because as root the server runs as `postgres`.
func makeTemporaryDirectory() throws -> String {
  let path = "/tmp/tally-embedded-test-\(UUID().uuidString.prefix(8))"
  try FileManager.default.createDirectory(
    atPath: path, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o755])
  return path
}

struct PsqlError: Error, CustomStringConvertible {
  var description: String
}

/// psql rather than TallyStore's libpq connection, so the cluster is checked by a client that shares no code with it.
@discardableResult
func psql(_ url: String, _ sql: String) throws -> String {
  let candidates = ["/usr/bin/psql", "/usr/local/bin/psql", "/opt/homebrew/bin/psql"]
  guard let executable = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
    throw PsqlError(description: "psql is not installed (Debian package postgresql-client)")
  }
  let process = Process()
  process.executableURL = URL(fileURLWithPath: executable)
  process.arguments = ["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql]
  let output = Pipe()
  let errorOutput = Pipe()
  process.standardOutput = output
  process.standardError = errorOutput
  process.standardInput = FileHandle.nullDevice
  try process.run()
  // Small outputs: both fit in the pipe buffers, so reading after exit cannot deadlock.
  process.waitUntilExit()
  let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
  guard process.terminationStatus == 0 else {
    let message = String(decoding: errorOutput.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    throw PsqlError(description: "psql exited with \(process.terminationStatus): \(message)")
  }
  return text.trimmingCharacters(in: .whitespacesAndNewlines)

}
