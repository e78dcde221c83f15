import ArgumentParser
import Foundation
import SwiftProtobuf
import Synchronization
import TallyClient

/// `-o table` for people, `-o json` for scripts, `-o csv` for spreadsheets (tables only).
enum OutputFormat: String, ExpressibleByArgument, CaseIterable, Sendable {
  case table
  case json
  case csv
}

/// Printing helpers, so every command formats tables and JSON the same way.
enum Output {
  /// One JSON document on one line, keys sorted so scripts and diffs see a stable order.
  static func printJSON(_ value: some Encodable) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    // snake_case keys, like the .proto field names the rest of the output uses.
    encoder.keyEncodingStrategy = .convertToSnakeCase
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
  }

  /// The `-o` of this run: one command per process, set once while the arguments are checked.
  static let selectedFormat = Mutex(OutputFormat.table)

  /// Rows with every column padded to its widest cell (the last column is not padded); with
  /// `-o csv`, `csv` (or the same rows) as RFC 4180 CSV: a command whose table shows units,
  /// bars or words passes rows of plain numbers there.
  /// `header`: the table's header when `rows` are a later page's, without it (CSV only).
  static func printTable(_ rows: [[String]], csv: [[String]]? = nil, header: [String]? = nil) {
    guard Self.isCSV else {
      for line in TextTable.lines(rows) { print(line) }
      return
    }
    // A column without a header is a bar drawn for people: no data of its own.
    let names = header ?? rows.first
    let kept = csv == nil ? names.map { names in names.indices.filter { !names[$0].isEmpty } } : nil
    for row in csv ?? rows {
      let cells = kept.map { $0.filter { $0 < row.count }.map { row[$0] } } ?? row
      print(cells.map(CSVField.escaped).joined(separator: ","))
    }
  }

  static var isCSV: Bool { Self.selectedFormat.withLock { $0 } == .csv }

  /// A value in its unit for people (12.5 %, 1,250.00 EUR); with -o csv, a plain number (a ratio
  /// as a fraction, money in major units, its currency in the column's name: `moneyHeader`).
  static func value(_ value: Double, _ unit: String, _ currency: String) -> String {
    guard Self.isCSV else { return KpiReport.format(value, unit, currency) }
    return unit == "money" ? KpiReport.plainMoney(value, currency) : KpiReport.plain(value)
  }

  /// A money column's header: with -o csv it names the currency (`revenue_eur`), since its
  /// cells are plain numbers.
  static func moneyHeader(_ name: String, _ currency: String) -> String {
    Self.isCSV && !currency.isEmpty ? "\(name)_\(currency.lowercased())" : name
  }

  /// Where a value is missing: "-" for people, an empty cell in CSV.
  static var missing: String { Self.isCSV ? "" : "-" }

  /// Writes a line to stderr, where errors go so that stdout stays parseable.
  static func printError(_ line: String) {
    // Not write(_:), which traps when stderr is closed.
    try? FileHandle.standardError.write(contentsOf: Data((line + "\n").utf8))
  }

  /// Milliseconds with two decimals, e.g. `1.23 ms`.
  static func milliseconds(_ duration: Duration) -> String {
    String(format: "%.2f ms", Self.millisecondValue(duration))
  }

  static func millisecondValue(_ duration: Duration) -> Double {
    let (seconds, attoseconds) = duration.components
    return Double(seconds) * 1000 + Double(attoseconds) / 1e15
  }
}

extension Output {
  /// Protobuf messages as protobuf JSON with the `.proto` field names, one per line.
  static func printMessages(_ messages: [some Message]) throws {
    for message in messages { print(try message.jsonString(options: Self.protoJSON)) }
  }

  /// A list result as one JSON array on one line, so that an empty list is `[]` rather than
  /// nothing and a script can parse the whole answer at once.
  static func printMessageArray<M: Message>(_ messages: [M]) throws {
    print(try M.jsonString(from: messages, options: Self.protoJSON))
  }

  /// Protobuf JSON with the `.proto` field names (snake_case), like the rest of the output, and
  /// map entries in key order, so that two runs over the same data print the same bytes.
  static var protoJSON: JSONEncodingOptions {
    var options = JSONEncodingOptions()
    options.preserveProtoFieldNames = true
    options.useDeterministicOrdering = true
    return options
  }

  /// A protobuf timestamp as `2026-11-23 21:59:25Z`, or `-` when unset.
  static func time(_ timestamp: Google_Protobuf_Timestamp?) -> String {
    guard let timestamp, timestamp.seconds != 0 || timestamp.nanos != 0 else { return Self.missing }
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withFullDate, .withSpaceBetweenDateAndTime, .withTime, .withColonSeparatorInTime]
    return formatter.string(from: timestamp.date) + "Z"
  }
}

extension Output {
  /// Redraws one progress line on stderr.
  static func printProgress(_ line: String) {
    try? FileHandle.standardError.write(contentsOf: Data(("\r" + line).utf8))
  }
}
