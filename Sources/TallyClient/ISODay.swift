import Foundation

/// A UTC date as `2026-11-23`, the form every day takes on the wire and in the CLI's output.
enum ISODay {
  static func string(_ date: Date) -> String {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withFullDate]
    return formatter.string(from: date)
  }
}
