import ArgumentParser
import Foundation
import SwiftProtobuf
import Synchronization
import TallyClient
import TallyProto
import TallyWire

/// The options of `tally accounts|contacts|events import`.
struct ImportOptions: ParsableArguments {
  @Argument(help: "A CSV file (comma, semicolon or tab separated); for events also .ndjson / .jsonl.")
  var file: String

  @Option(
    name: .customLong("map"),
    help: "\"Column=field\" for a column the importer does not recognize (repeatable); field - ignores it.")
  var map: [String] = []

  @Option(help: "Rows per message to the server (accounts and contacts at most 1000, events at most 10000).")
  var batchSize: Int?

  @Flag(help: "No progress line on stderr.") var quiet = false

  func validate() throws {
    if let batchSize, batchSize < 1 { throw ValidationError("--batch-size must be at least 1, got \(batchSize)") }
  }
}

/// Reads a file, sends it in batches on one client stream, draws progress, and prints a summary
/// with the first reasons for rejected rows, by line number.
struct Importer {
  let kind: ImportKind
  let options: ImportOptions
  let connection: ConnectionOptions

  func run() async throws {
    let (run, counts, rejected, rejections) = try await self.connection.withClient { session in
      // A stream the tenant's rate refused never started: nothing was stored (and the rows are
      // idempotent anyway), so after the wait the server asked for the file is read again.
      var refused: ImportRun?
      // Amounts are stored in the tenant's currency's minor units: hundredths of a euro, whole yen.
      let minorDigits =
        self.kind == .accounts
        ? KpiReport.minorDigits(
          try await session.client.unary(KpiMethods.getSettings, .init(), options: session.options).currency) : 2
      do {
        return try await RateLimitWaits.retrying(budget: session.client.maxRateLimitWait) {
          refused?.finishProgress()
          let run = ImportRun(
            reader: try ImportReader(
              kind: self.kind, path: self.options.file, overrides: self.options.map, minorDigits: minorDigits),
            drawsProgress: !self.options.quiet && isatty(2) == 1
          )
          refused = run
          let (counts, rejected, rejections) = try await self.stream(run, session)
          return (run, counts, rejected, rejections)
        }
      } catch let error as RPCError {
        // The progress line ends before the error (printed after this), and says how far the rows
        // stored go: messages do not map to lines by arithmetic (rows refused here were never sent).
        refused?.finishProgress()
        if let run = refused {
          Output.printError(run.storedBefore(error))
          // A script reading -o json or csv still gets its summary: what the file held, how far it was
          // stored, and the error that stopped it (which also goes to stderr, as every error does).
          switch self.connection.output {
          case .json: try Output.printJSON(run.stoppedSummary(file: self.options.file, by: error))
          case .csv: Output.printTable(run.stoppedSummary(file: self.options.file, by: error).csvRows)
          case .table: break
          }
        }
        throw error
      }
    }
    run.finishProgress()
    switch self.connection.output {
    case .json:
      try Output.printJSON(
        run.jsonSummary(file: self.options.file, counts: counts, serverRejected: rejected, serverRejections: rejections)
      )
    case .csv:
      // One row of counts for a log a schedule appends to; the first reasons go to stderr.
      let summary = run.jsonSummary(
        file: self.options.file, counts: counts, serverRejected: rejected, serverRejections: rejections)
      Output.printTable(summary.csvRows)
      for line in run.summary(counts: counts, serverRejected: rejected, serverRejections: rejections)
        .split(separator: "\n").dropFirst()
      {
        Output.printError(String(line))
      }
    case .table:
      print(run.summary(counts: counts, serverRejected: rejected, serverRejections: rejections))
    }
    // A file that could not be read to its end: what came before was sent, and the summary says
    // what became of it; the command still fails, as for a file that is not right.
    if let stop = run.stop {
      Output.printError("error: \(stop)")
      Output.printError("the import stopped there; the rows before it were sent, and the summary above counts them")
      throw ExitCode.validationFailure
    }
    // The rows that were valid are stored; a script still learns that some were not, and whether
    // any was.
    let rejectedRows = Int(rejected) + run.localRejected
    if rejectedRows > 0 { throw ExitCode(rejectedRows < run.rows ? Self.someRowsRejected : Self.everyRowRejected) }
  }

  /// The exit status of an import that stored its valid rows and rejected others (1: it failed).
  static let someRowsRejected: Int32 = 2
  /// The exit status of an import whose every row was rejected: nothing was stored.
  static let everyRowRejected: Int32 = 3

  /// The file's rows on one client stream; the server's counts and rejections.
  private func stream(_ run: ImportRun, _ session: Session) async throws -> (
    ImportCounts, UInt64, [Tally_V1_RejectedItem]
  ) {
    let limit = self.kind == .events ? 10_000 : 1_000
    if let asked = self.options.batchSize, asked > limit {
      throw importFailure("--batch-size is at most \(limit) for \(self.kind.rawValue), got \(asked)")
    }
    let batchSize = self.options.batchSize ?? limit / 2
    switch self.kind {
    case .events:
      let response = try await session.client.clientStreaming(EventMethods.recordEvents, options: session.options) {
        writer in
        while let batch = run.nextBatch(batchSize) {
          try await writer.send(.with { $0.events = batch.compactMap(\.event) })
        }
      }
      return (
        .events(accepted: response.accepted, duplicates: response.duplicates), response.rejected, response.rejections
      )
    case .accounts, .contacts:
      let response = try await session.client.clientStreaming(AccountMethods.importAccounts, options: session.options) {
        writer in
        while let batch = run.nextBatch(batchSize) {
          try await writer.send(
            .with {
              $0.accounts = batch.compactMap(\.account)
              $0.contacts = batch.compactMap(\.contact)
            })
        }
      }
      let upserted = self.kind == .accounts ? response.accountsUpserted : response.contactsUpserted
      return (.upserted(upserted, self.kind), response.rejected, response.rejections)
    }
  }
}

/// One converted row of any kind.
enum RowMessage: Sendable {
  case account(Tally_V1_Account)
  case contact(Tally_V1_Contact)
  case event(Tally_V1_Event)

  var account: Tally_V1_Account? { if case .account(let value) = self { value } else { nil } }
  var contact: Tally_V1_Contact? { if case .contact(let value) = self { value } else { nil } }
  var event: Tally_V1_Event? { if case .event(let value) = self { value } else { nil } }

  /// The id of an account or contact: ImportAccounts refuses a message that names one twice.
  var importID: String? { self.account?.id ?? self.contact?.id }
}

/// The reader and the tallies of one import, shared with the sending closure.
final class ImportRun: Sendable {
  struct State {
    var rows = 0
    var localRejected = 0
    /// The first rows the file itself spoiled, by line: the table shows 10, `-o json` all of these.
    var localReasons: [(line: Int, reason: String)] = []
    /// The file line of every row sent, per batch, to name lines in the server's rejections.
    var batchLines: [[Int]] = []
    var progress: ImportProgress
  }

  /// The file's reader, and a row it read that waits for the next batch.
  private struct Reading {
    var reader: ImportReader
    var held: (Int, Result<RowMessage, any Error>)?
    /// Why the file could not be read further (an unclosed quote, a line past its limit).
    var stop: (any Error)?
  }

  private let reading: Mutex<Reading>
  private let state: Mutex<State>
  private let drawsProgress: Bool

  init(reader: sending ImportReader, drawsProgress: Bool) {
    self.state = Mutex(State(progress: ImportProgress(totalBytes: reader.totalBytes)))
    self.reading = Mutex(Reading(reader: reader))
    self.drawsProgress = drawsProgress
  }

  /// The next rows to send (at least one), or nil at the end of the file. A row whose id the batch
  /// has already starts the next batch: the server refuses a message naming an id twice, and the
  /// file's later row still replaces the earlier one, as it would in a file sent row by row.
  func nextBatch(_ size: Int) -> [RowMessage]? {
    while true {
      let (rows, read, bytes, done) = self.reading.withLock { reading in
        var rows: [(Int, Result<RowMessage, any Error>)] = []
        var ids = Set<[UInt8]>()
        var done = false
        while rows.count < size {
          let next: (Int, Result<RowMessage, any Error>)?
          if let held = reading.held {
            next = held
            reading.held = nil
          } else if reading.stop != nil {
            next = nil
          } else {
            // The stream ends there, so that the rows before are counted and the summary shown.
            do {
              next = try reading.reader.next()
            } catch {
              reading.stop = error
              next = nil
            }
          }
          guard let row = next else {
            done = true
            break
          }
          if case .success(let message) = row.1, let id = message.importID, !ids.insert(Array(id.utf8)).inserted {
            reading.held = row
            break
          }
          rows.append(row)
        }
        return (rows, rows.count, reading.reader.bytesRead, done)
      }
      let batch: [RowMessage] = self.state.withLock { state in
        state.rows += read
        var lines: [Int] = []
        var batch: [RowMessage] = []
        for (line, result) in rows {
          switch result {
          case .success(let message):
            lines.append(line)
            batch.append(message)
          case .failure(let error):
            state.localRejected += 1
            if state.localReasons.count < ImportSummary.maxRejections { state.localReasons.append((line, "\(error)")) }
          }
        }
        if !batch.isEmpty { state.batchLines.append(lines) }
        if self.drawsProgress, state.progress.shouldRender() {
          Output.printProgress(state.progress.line(rows: state.rows, bytes: bytes))
        }
        return batch
      }
      if !batch.isEmpty { return batch }
      if done { return nil }
    }
  }

  func finishProgress() {
    guard self.drawsProgress else { return }
    // A file read to its end shows 100 %; one that stopped, how far it got.
    let stoppedAt = self.reading.withLock { $0.stop == nil ? nil : $0.reader.bytesRead }
    self.state.withLock { state in
      Output.printProgress(state.progress.line(rows: state.rows, bytes: stoppedAt ?? state.progress.totalBytes))
    }
    Output.printError("")
  }

  /// "N rows in T s (R rows/s): <counts>, <rejected> rejected", then the first reasons by line.
  /// Why the file was not read to its end, if it was not.
  var stop: (any Error)? { self.reading.withLock { $0.stop } }

  /// What a stream that `error` ended left stored, by the server's count of its messages
  /// (`StreamStored`), as the file's lines.
  func storedBefore(_ error: RPCError) -> String {
    let again = "importing the file again is safe: stored rows are upserted again (events: counted as duplicates)"
    guard let stored = StreamStored.messages(in: error.message) else {
      return "the import stopped at the error below; rows already sent may have been stored: \(again)"
    }
    let through = self.lastLine(stored: stored).map { ", the file's rows through line \($0)" } ?? ""
    return "the import stopped at the error below after its first \(stored) message(s) were stored\(through); \(again)"
  }

  /// The file line of the last row in the stream's first `stored` messages, if they held any.
  private func lastLine(stored: UInt32) -> Int? {
    self.state.withLock { $0.batchLines.prefix(Int(stored)).last { !$0.isEmpty }?.last }
  }

  /// The summary of a stream that `error` ended: no counts (the server's answer never came), the
  /// file's own rejections, and how far the rows were stored when the server said so.
  func stoppedSummary(file: String, by error: RPCError) -> ImportSummary {
    var summary = self.jsonSummary(file: file, counts: nil, serverRejected: 0, serverRejections: [])
    summary.stopped = "\(error)"
    summary.storedMessages = StreamStored.messages(in: error.message)
    summary.storedThroughLine = summary.storedMessages.flatMap { self.lastLine(stored: $0) }
    return summary
  }

  /// The rows the file itself spoiled (unreadable lines, bad cells), not sent.
  var localRejected: Int { self.state.withLock { $0.localRejected } }
  var rows: Int { self.state.withLock { $0.rows } }

  func summary(counts: ImportCounts, serverRejected: UInt64, serverRejections: [Tally_V1_RejectedItem]) -> String {
    self.state.withLock { state in
      let seconds = state.progress.elapsedSeconds()
      var lines = [
        "\(ImportProgress.grouped(state.rows)) rows in \(String(format: "%.1f", seconds)) s "
          + "(\(ImportProgress.grouped(Int(Double(state.rows) / max(seconds, 0.001)))) rows/s): \(counts), "
          + "\(serverRejected + UInt64(state.localRejected)) rejected"
      ]
      lines += state.localReasons.prefix(10).map { "line \($0.line): \($0.reason)" }
      for rejection in serverRejections.prefix(10) {
        let line =
          state.line(of: rejection).map { "line \($0)" } ?? "row \(rejection.index) of batch \(rejection.batch)"
        lines.append("\(line): \(rejection.field): \(rejection.reason)")
      }
      return lines.joined(separator: "\n")
    }
  }

  /// The summary for `-o json`: the same counts, and every rejection kept (the file's first 1,000
  /// and the server's first 1,000), each with its file line.
  func jsonSummary(
    file: String, counts: ImportCounts?, serverRejected: UInt64, serverRejections: [Tally_V1_RejectedItem]
  ) -> ImportSummary {
    self.state.withLock { state in
      var summary = ImportSummary(
        file: file, rows: state.rows, seconds: (state.progress.elapsedSeconds() * 1_000).rounded() / 1_000,
        rejected: serverRejected + UInt64(state.localRejected))
      switch counts {
      case .events(let accepted, let duplicates): (summary.accepted, summary.duplicates) = (accepted, duplicates)
      case .upserted(let upserted, _): summary.upserted = upserted
      case nil: break
      }
      summary.rejections =
        state.localReasons.map { .init(line: $0.line, field: nil, reason: $0.reason) }
        + serverRejections.map { .init(line: state.line(of: $0), field: $0.field, reason: $0.reason) }
      summary.rejections.sort { ($0.line ?? .max) < ($1.line ?? .max) }
      summary.stopped = self.stop.map { "\($0)" }
      return summary
    }
  }
}

extension ImportRun.State {
  /// The file line of a row the server rejected, when the batch and index name a row sent.
  func line(of rejection: Tally_V1_RejectedItem) -> Int? {
    let (batch, index) = (Int(rejection.batch), Int(rejection.index))
    guard batch < self.batchLines.count, index < self.batchLines[batch].count else { return nil }
    return self.batchLines[batch][index]
  }
}

/// What the server counted for an import's rows.
enum ImportCounts: CustomStringConvertible {
  case events(accepted: UInt64, duplicates: UInt64)
  case upserted(UInt64, ImportKind)

  var description: String {
    switch self {
    case .events(let accepted, let duplicates): "\(accepted) accepted, \(duplicates) duplicate"
    case .upserted(let upserted, let kind): "\(upserted) \(kind.rawValue) upserted"
    }
  }
}

/// An import's outcome as one JSON object (`-o json`), for scripts that load files on a schedule.
struct ImportSummary: Encodable {
  /// The rejections kept of each kind, the file's and the server's (which keeps its first 1,000).
  static let maxRejections = 1_000

  struct Rejection: Encodable {
    /// The file line; nil only for a server rejection naming a row that was not sent.
    var line: Int?
    /// The field the server named; nil for a line the file spoiled (its reason says why).
    var field: String?
    var reason: String
  }

  var file: String
  var rows: Int
  var seconds: Double
  var accepted: UInt64?
  var duplicates: UInt64?
  var upserted: UInt64?
  var rejected: UInt64
  var rejections: [Rejection] = []
  /// Why the file was not read to its end, or the server error that ended the stream.
  var stopped: String?
  /// For a stream a server error ended: its first messages that stayed stored, as the server
  /// counted them, and the file line of the last row they held (both absent when it did not say).
  var storedMessages: UInt32?
  var storedThroughLine: Int?

  /// `-o csv`: the counts as a header and one row; the columns of the import's kind only.
  var csvRows: [[String]] {
    let counts: [(String, UInt64?)] = [
      ("accepted", self.accepted), ("duplicates", self.duplicates), ("upserted", self.upserted),
    ]
    let kept = counts.compactMap { name, value in value.map { (name, "\($0)") } }
    return [
      ["file", "rows", "seconds"] + kept.map(\.0) + ["rejected", "stopped"],
      [self.file, "\(self.rows)", "\(self.seconds)"] + kept.map(\.1) + ["\(self.rejected)", self.stopped ?? ""],
    ]
  }

  init(file: String, rows: Int, seconds: Double, rejected: UInt64) {
    (self.file, self.rows, self.seconds, self.rejected) = (file, rows, seconds, rejected)
  }
}

/// Rows of a CSV or NDJSON file as messages of one kind.
struct ImportReader {
  private enum Source {
    case csv(CSVRows, ColumnMapping)
    case ndjson(LineReader)
  }

  private var source: Source
  let kind: ImportKind
  let totalBytes: Int
  /// Of the tenant's currency: how many digits of an amount are minor units.
  let minorDigits: Int

  init(kind: ImportKind, path: String, overrides: [String], minorDigits: Int) throws {
    self.kind = kind
    self.minorDigits = minorDigits
    if kind == .events, [".ndjson", ".jsonl"].contains(where: { path.lowercased().hasSuffix($0) }) {
      // NDJSON names its fields itself: a mapping would be ignored without a word.
      guard overrides.isEmpty else { throw importFailure("--map is for CSV columns; \(path) is NDJSON") }
      let lines = try LineReader(path: path)
      self.totalBytes = lines.totalBytes
      self.source = .ndjson(lines)
      return
    }
    var rows: CSVRows
    do {
      rows = try CSVRows(path: path)
    } catch {
      throw importFailure("\(error)")
    }
    self.totalBytes = rows.totalBytes
    let firstRecord: CSVRows.Record?
    do {
      firstRecord = try rows.next()
    } catch let unreadable as CSVRows.UnreadableRecord {
      throw importFailure("the header of \(path), line \(unreadable.line), \(unreadable)")
    } catch {
      throw importFailure("\(error)")
    }
    guard let header = firstRecord else { throw importFailure("\(path) is empty") }
    let columns: ColumnMapping
    do {
      columns = try ColumnMapping(header: header.fields, kind: kind, overrides: overrides)
    } catch {
      throw importFailure("\(error)")
    }
    let required: [String] =
      switch kind {
      case .accounts: ["id", "name"]
      case .contacts: ["id", "account_id"]
      case .events: ["key", "occurred_at", "type"]
      }
    let missing = columns.missing(required)
    guard missing.isEmpty else {
      throw importFailure(
        "\(path) has no column for \(missing.joined(separator: ", ")); its columns are "
          + "\(header.fields.joined(separator: ", ")). Name them with --map \"Column=field\".")
    }
    if !columns.unmappedColumns.isEmpty {
      Output.printError("ignoring columns: \(columns.unmappedColumns.joined(separator: ", ")) (see --map)")
    }
    self.source = .csv(rows, columns)
  }

  var bytesRead: Int {
    switch self.source {
    case .csv(let rows, _): rows.bytesRead
    case .ndjson(let lines): lines.bytesRead
    }
  }

  /// The next row with its line number: the message, or why the row could not be read.
  mutating func next() throws -> (Int, Result<RowMessage, any Error>)? {
    switch self.source {
    case .csv(var rows, let columns):
      defer { self.source = .csv(rows, columns) }
      let record: CSVRows.Record?
      do {
        record = try rows.next()
      } catch let unreadable as CSVRows.UnreadableRecord {
        // One line the file spoils: rejected like a row with a bad cell, and the import goes on.
        return (unreadable.line, .failure(unreadable))
      } catch {
        throw ImportStop(reason: "\(error)")
      }
      guard let record else { return nil }
      let result = Result<RowMessage, any Error> {
        switch self.kind {
        case .accounts:
          .account(
            try ImportRows.account(
              record.fields, columns, decimalSeparator: ImportParsing.DecimalSeparator(csvDelimiter: rows.delimiter),
              minorDigits: self.minorDigits))
        case .contacts: .contact(try ImportRows.contact(record.fields, columns))
        case .events:
          .event(
            try ImportRows.event(
              record.fields, columns, decimalSeparator: ImportParsing.DecimalSeparator(csvDelimiter: rows.delimiter)))
        }
      }
      return (record.line, result)
    case .ndjson(var lines):
      defer { self.source = .ndjson(lines) }
      while let (number, read) = try lines.next() {
        // The file's byte order mark, if it has one, is no JSON: skipped, as CSV files' is.
        let bytes = number == 1 && read.starts(with: utf8ByteOrderMark) ? Array(read.dropFirst(3)) : read
        // Not decoded with replacement characters: two keys in another encoding would become one.
        guard let line = String(validating: bytes, as: UTF8.self) else {
          return (
            number, .failure(CSVRows.UnreadableRecord(line: number, reason: "is not UTF-8; save the file as UTF-8"))
          )
        }
        if line.allSatisfy(\.isWhitespace) { continue }
        let result = Result<RowMessage, any Error> { .event(try ImportRows.event(jsonLine: line)) }
        return (number, result)
      }
      return nil
    }
  }
}

/// Lines of a text file, read in 1 MiB chunks.
struct LineReader {
  static let maxLineBytes = 4 << 20
  private let handle: FileHandle
  private var buffer: [UInt8] = []
  /// Where the next line starts in `buffer`.
  private var start = 0
  private var atEnd = false
  private var number = 0
  private(set) var bytesRead = 0
  let totalBytes: Int

  init(path: String) throws {
    guard let handle = ImportFile.open(path) else { throw importFailure("cannot open \(path)") }
    self.handle = handle
    self.totalBytes = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
  }

  /// The next line's number and bytes, without its newline. Lines are read from `start` on, and
  /// the buffer is cut only when it is refilled: cutting it per line moved the rest of the chunk
  /// for every line.
  mutating func next() throws -> (Int, [UInt8])? {
    while true {
      if let newline = self.buffer[self.start...].firstIndex(of: UInt8(ascii: "\n")) {
        let line = Array(self.buffer[self.start..<newline])
        self.start = newline + 1
        self.bytesRead += line.count + 1
        self.number += 1
        return (self.number, line)
      }
      if self.atEnd {
        guard self.start < self.buffer.count else { return nil }
        let line = Array(self.buffer[self.start...])
        self.start = self.buffer.count
        self.bytesRead += line.count
        self.number += 1
        return (self.number, line)
      }
      // An event is a few hundred bytes: a longer line is no NDJSON, and is not read whole.
      guard self.buffer.count - self.start <= Self.maxLineBytes else {
        throw ImportStop(
          reason: "line \(self.number + 1) is longer than \(Self.maxLineBytes >> 20) MiB: is this NDJSON?")
      }
      self.buffer.removeSubrange(..<self.start)
      self.start = 0
      let data: Data
      do {
        data = try ImportFile.read(self.handle, line: self.number + 1)
      } catch {
        throw ImportStop(reason: "\(error)")
      }
      if data.isEmpty { self.atEnd = true } else { self.buffer += data }
    }
  }
}

/// The bytes a UTF-8 file may start with to say it is UTF-8 (U+FEFF).
let utf8ByteOrderMark: [UInt8] = [0xEF, 0xBB, 0xBF]

/// Why a file could not be read past a point: the rows before it are sent, and the reason is printed
/// after the summary (and is the JSON summary's `stopped`); the command then exits 64.
struct ImportStop: Error, CustomStringConvertible {
  let reason: String
  var description: String { self.reason }
}

/// Prints `error: message` and ends the command with exit code 64, an input file that is not
/// right, as `tally --help` promises (no usage text: the command was right).
func importFailure(_ message: String) -> ExitCode {
  Output.printError("error: \(message)")
  return .validationFailure
}
