import ArgumentParser
import Foundation
import TallyServer
import TallyStore

/// Applies the migrations that are missing, as the owner role.
struct Migrate: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Apply the database migrations that are missing (each once, in order, under an advisory lock)."
  )

  @Option(help: "The owner role's database URL (or TALLY_OWNER_DATABASE_URL).")
  var databaseURL: String?

  @Option(help: "The directory of NNNN_name.sql files (or TALLY_MIGRATIONS_DIR; default: ./Migrations).")
  var migrations: String?

  func run() throws {
    let environment = ProcessInfo.processInfo.environment
    guard let url = self.databaseURL ?? environment["TALLY_OWNER_DATABASE_URL"] else {
      throw ValidationError("give the owner role's database URL with --database-url or TALLY_OWNER_DATABASE_URL")
    }
    let directory = try Self.migrationsDirectory(self.migrations ?? environment["TALLY_MIGRATIONS_DIR"])
    let applied = try migrate(url, named: "the database URL", directory: directory)
    print(applied.isEmpty ? "migrations: up to date" : "migrations: applied \(applied.joined(separator: ", "))")
  }

  /// The named directory, else ./Migrations, else ../share/tally/migrations beside the binary.
  /// `setting`: how to name the directory, for the error (`--migrations`, or the file's field).
  static func migrationsDirectory(_ named: String?, setting: String = "--migrations") throws -> String {
    if let named { return named }
    // The running binary itself, not argv[0]: a shell that found `tallyd` on PATH passes the bare name.
    let executable = URL(
      fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
        ?? CommandLine.arguments[0]
    ).resolvingSymlinksInPath()
    let candidates = [
      FileManager.default.currentDirectoryPath + "/Migrations",
      executable.deletingLastPathComponent().appendingPathComponent("../share/tally/migrations").standardized.path,
    ]
    guard let found = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) else {
      throw ServerConfigurationError(
        "no migrations directory: looked in \(candidates.joined(separator: " and ")); name it with \(setting)")
    }
    return found
  }
}
