public import Foundation

/// Reads a CSV file record by record in 1 MiB chunks, so a file of millions of rows never sits in
/// memory. RFC 4180 quoting; LF or CRLF; a UTF-8 BOM is skipped; blank lines are skipped. A
/// record that is not UTF-8 throws `UnreadableRecord`, after which reading goes on.
public struct CSVRows {
  public struct Record: Sendable {
    public var fields: [String]
    /// The 1-based line the record starts on, for error messages.
    public var line: Int
  }

  public struct ParseError: Error, CustomStringConvertible {
    public var line: Int
    public var problem: String
    public var description: String { self.line > 0 ? "line \(self.line): \(self.problem)" : self.problem }
  }

  /// One record that could not be read, whole: the next call to `next()` reads the record after
  /// it, so an importer can reject this one line and go on.
  public struct UnreadableRecord: Error, Equatable, CustomStringConvertible {
    /// The 1-based line the record starts on.
    public var line: Int
    public var reason: String
    public var description: String { self.reason }

    public init(line: Int, reason: String) {
      self.line = line
      self.reason = reason
    }
  }

  private let handle: FileHandle
  private var chunk: [UInt8] = []
  private var position = 0
  private var atEnd = false
  private var line = 1
  private var started = false
  /// The last record ended at a CR: an LF right after it is the rest of that line end.
  private var afterCarriageReturn = false
  /// Comma, or semicolon or tab when the header line has those and no comma (European spreadsheets).
  public private(set) var delimiter: UInt8
  /// Bytes handed out so far: progress through the file.
  public private(set) var bytesRead = 0
  public let totalBytes: Int

  /// This reader's limits (`maxFieldBytes`, `maxRecordBytes` unless a test makes them small).
  private let fieldLimit: Int
  private let recordLimit: Int

  public init(
    path: String, delimiter: UInt8? = nil, maxFieldBytes: Int = Self.maxFieldBytes,
    maxRecordBytes: Int = Self.maxRecordBytes
  ) throws {
    (self.fieldLimit, self.recordLimit) = (maxFieldBytes, maxRecordBytes)
    guard let handle = ImportFile.open(path) else { throw ParseError(line: 0, problem: "cannot open \(path)") }
    self.handle = handle
    self.totalBytes = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
    self.delimiter = delimiter ?? UInt8(ascii: ",")
    if delimiter == nil {
      try self.fill()
      self.delimiter = Self.headerDelimiter(self.chunk)
    }
  }

  /// Comma, or semicolon or tab when the header has one of those outside quotes and no comma. The
  /// header is the first line with something in it: blank lines before it are skipped, as in
  /// `next()`, and a quoted header name may hold a comma ("Name, legal";id is a semicolon file).
  static func headerDelimiter(_ bytes: [UInt8]) -> UInt8 {
    var seen: Set<UInt8> = []
    var quoted = false
    for byte in bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? bytes.dropFirst(3) : bytes[...] {
      if byte == UInt8(ascii: "\"") {
        quoted.toggle()
      } else if !quoted, byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r") {
        if !seen.isEmpty { break }
      } else if !quoted {
        seen.insert(byte)
      }
    }
    if seen.contains(UInt8(ascii: ",")) { return UInt8(ascii: ",") }
    if seen.contains(UInt8(ascii: ";")) { return UInt8(ascii: ";") }
    if seen.contains(UInt8(ascii: "\t")) { return UInt8(ascii: "\t") }
    return UInt8(ascii: ",")
  }

  private mutating func fill() throws {
    guard !self.atEnd else { return }
    let data = try ImportFile.read(self.handle, line: self.line)
    if data.isEmpty {
      self.atEnd = true
    } else {
      self.chunk = Array(self.chunk[self.position...]) + data
      self.position = 0
    }
  }

  private enum State {
    case fieldStart, unquoted, quoted, quoteInQuoted
  }

  /// The next non-blank record, or nil at the end of the file. A record of empty cells alone
  /// (",,,", which spreadsheets write below their data) is blank too.
  public mutating func next() throws -> Record? {
    while true {
      guard let record = try self.readRecord() else { return nil }
      if record.fields.allSatisfy({ $0.allSatisfy { $0 == " " || $0 == "\t" } }) { continue }
      return record
    }
  }

  /// A cell longer than any value Tally stores: past it the reader stops, rather than read the rest
  /// of a large file into one cell behind an unclosed quote.
  public static let maxFieldBytes = 1 << 20
  /// A record's bytes, cells together: a file whose line ends the reader does not know (a lone CR)
  /// would otherwise be one record of the whole file.
  public static let maxRecordBytes = 16 << 20

  private static func size(_ bytes: Int) -> String { bytes >= 1 << 20 ? "\(bytes >> 20) MiB" : "\(bytes) bytes" }

  private mutating func readRecord() throws -> Record? {
    var fields: [String] = []
    var field: [UInt8] = []
    var state = State.fieldStart
    let startLine = self.line
    var sawAnything = false
    var recordBytes = 0
    var isUTF8 = true
    func finishField() {
      let text = String(validating: field, as: UTF8.self)
      isUTF8 = isUTF8 && text != nil
      fields.append(text ?? "")
      field.removeAll(keepingCapacity: true)
    }
    /// The record read so far, once its end is reached.
    func finishRecord() throws -> Record {
      finishField()
      guard isUTF8 else { throw UnreadableRecord(line: startLine, reason: "is not UTF-8; save the file as UTF-8") }
      return Record(fields: fields, line: startLine)
    }
    while true {
      if self.position == self.chunk.count {
        try self.fill()
        if self.position == self.chunk.count {
          if state == .quoted {
            throw ParseError(line: startLine, problem: "a quoted field is never closed")
          }
          guard sawAnything else { return nil }
          return try finishRecord()
        }
      }
      let byte = self.chunk[self.position]
      self.position += 1
      self.bytesRead += 1
      if !self.started {
        self.started = true
        // A UTF-8 byte-order mark: skip its three bytes.
        if byte == 0xEF, self.chunk.count >= 3, self.chunk[1] == 0xBB, self.chunk[2] == 0xBF {
          self.position = 3
          self.bytesRead = 3
          continue
        }
      }
      if self.afterCarriageReturn {
        self.afterCarriageReturn = false
        if byte == UInt8(ascii: "\n") { continue }
      }
      sawAnything = true
      if byte == UInt8(ascii: "\n") { self.line += 1 }
      switch state {
      case .fieldStart, .unquoted, .quoteInQuoted:
        if byte == UInt8(ascii: "\r") {
          // A line end: CRLF (its LF skipped as the next record starts) or a lone CR, as old Mac
          // spreadsheets save; a CR inside quotes is the cell's own, and kept.
          self.line += 1
          self.afterCarriageReturn = true
          return try finishRecord()
        } else if byte == self.delimiter {
          finishField()
          state = .fieldStart
        } else if byte == UInt8(ascii: "\n") {
          return try finishRecord()
        } else if byte == UInt8(ascii: "\"") && state == .fieldStart {
          state = .quoted
        } else if byte == UInt8(ascii: "\"") && state == .quoteInQuoted {
          field.append(byte)
          state = .quoted
        } else {
          // Lenient like spreadsheets: a stray quote or text after a closing quote is kept.
          field.append(byte)
          state = .unquoted
        }
      case .quoted:
        if byte == UInt8(ascii: "\"") {
          state = .quoteInQuoted
        } else {
          field.append(byte)
        }
      }
      recordBytes += 1
      if recordBytes > self.recordLimit {
        throw ParseError(line: startLine, problem: "a record is longer than \(Self.size(self.recordLimit))")
      }
      if field.count > self.fieldLimit {
        throw ParseError(
          line: startLine,
          problem: "a field is longer than \(Self.size(self.fieldLimit))"
            + (state == .quoted ? " (a quote opened here is never closed?)" : ""))
      }
    }
  }
}

/// An import's file: opened for reading only when it is a file (Foundation opens a directory and
/// then traps on its first read), and read with errors that say so.
public enum ImportFile {
  public static func open(_ path: String) -> FileHandle? {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else {
      return nil
    }
    return FileHandle(forReadingAtPath: path)
  }

  /// The next MiB (empty at the end); a read that fails names the line it was at.
  public static func read(_ handle: FileHandle, line: Int) throws -> Data {
    do {
      return try handle.read(upToCount: 1 << 20) ?? Data()
    } catch {
      throw CSVRows.ParseError(line: line, problem: "cannot read the file: \(error.localizedDescription)")
    }
  }
}
