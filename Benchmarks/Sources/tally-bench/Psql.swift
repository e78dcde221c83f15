import ArgumentParser
import Foundation

/// psql as the baselines run it: no psqlrc, quiet, its output returned; a failure says what ran.
enum Psql {
  static func run(_ url: String, _ arguments: [String], running what: String) throws -> String {
    let process = Process()
    let output = Pipe()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["psql", "-X", "-q", "-d", url] + arguments
    process.standardOutput = output
    try process.run()
    let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
      throw ValidationError("psql failed (status \(process.terminationStatus)) running: \(what)")
    }
    return text
  }
}
