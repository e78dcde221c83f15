import Foundation
import SwiftProtobuf
import TallyClient
import TallyProto
import Testing

/// Writes `text` to a file in a fresh temporary directory, runs `body` on its path, and removes the directory.
private func withFile<T>(_ text: String, _ body: (String) throws -> T) throws -> T {
  let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tally-import-\(UUID().uuidString)")
  try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
  defer { try? FileManager.default.removeItem(at: directory) }
  let path = directory.appendingPathComponent("import.csv").path
  try Data(text.utf8).write(to: URL(fileURLWithPath: path))
  return try body(path)
}

private func records(
  _ text: String, maxFieldBytes: Int = CSVRows.maxFieldBytes, maxRecordBytes: Int = CSVRows.maxRecordBytes
) throws -> [CSVRows.Record] {
  try withFile(text) { path in
    var rows = try CSVRows(path: path, maxFieldBytes: maxFieldBytes, maxRecordBytes: maxRecordBytes)
    var all: [CSVRows.Record] = []
    while let record = try rows.next() { all.append(record) }
    return all
  }
}

@Suite struct CSVRowsTests {
  /// A quote never closed near the top of a large file stops the reader at the cell's limit,
  /// naming the line it opened on, instead of reading the rest of the file into one cell.
  /// (The limits are made small here: a synchronous test parsing megabytes in a debug build held a
  /// cooperative thread for seconds, and starved the async tests beside it.)
  /// A directory is refused when opened: Foundation opens one, then traps on its first read.
  @Test func aDirectoryIsNoFileToImport() throws {
    let directory = FileManager.default.temporaryDirectory.path
    #expect(throws: CSVRows.ParseError.self) { try CSVRows(path: directory) }
    #expect(ImportFile.open(directory) == nil)
  }

  @Test func aCellPastItsLimitStopsTheReaderAtItsLine() throws {
    let long = String(repeating: "x", count: 1_001)
    let error = #expect(throws: CSVRows.ParseError.self) {
      try records("a,b\n1,\"open\n\(long)\n2,3\n", maxFieldBytes: 1_000)
    }
    #expect(error?.line == 2 && error?.problem.contains("never closed") == true)
    #expect(error?.problem.contains("longer than 1000 bytes") == true)
    #expect(try records("a\n\(String(long.dropLast()))\n", maxFieldBytes: 1_000).count == 2, "a cell at the limit")
    #expect(CSVRows.maxFieldBytes == 1 << 20 && CSVRows.maxRecordBytes == 16 << 20)
  }

  /// Line ends the reader does not know (a lone CR) make the file one record: it stops at the
  /// record's limit instead of holding the whole file's cells.
  @Test func aRecordPastItsLimitStopsTheReader() throws {
    let cells = String(repeating: "abc,", count: 1_001)
    let error = #expect(throws: CSVRows.ParseError.self) { try records("a\n\(cells)\n", maxRecordBytes: 4_000) }
    #expect(error?.line == 2 && error?.problem.contains("record is longer") == true)
  }

  /// Rows of empty cells, which spreadsheets write below their data, are blank lines: they were
  /// sent as rows without an id and rejected, and the import exited 2.
  @Test func rowsOfEmptyCellsAreSkipped() throws {
    let rows = try records("a,b\n1,2\n,\n , \n\"\",\"\"\n3,4\n,,\n")
    #expect(rows.map(\.fields) == [["a", "b"], ["1", "2"], ["3", "4"]])
    #expect(rows.map(\.line) == [1, 2, 6])
  }

  @Test func quotesCommasNewlinesAndEscapedQuotes() throws {
    let rows = try records("a,b,c\r\n\"x, y\",\"say \"\"hi\"\"\",\"two\nlines\"\r\n\n1,,3")
    #expect(rows.map(\.fields) == [["a", "b", "c"], ["x, y", "say \"hi\"", "two\nlines"], ["1", "", "3"]])
    #expect(rows.map(\.line) == [1, 2, 5])
  }

  @Test func byteOrderMarkAndSemicolonsAreHandled() throws {
    let rows = try records("\u{FEFF}Name;Tier\nAcme;1\n")
    #expect(rows.map(\.fields) == [["Name", "Tier"], ["Acme", "1"]])
  }

  /// The delimiter is the header's: blank lines before it are skipped, and a quoted name's comma
  /// does not make a semicolon file a comma one.
  @Test(arguments: ["\r\nName;Tier\r\nAcme;1\r\n", "\"Name, legal\";Tier\nAcme;1\n", "\n\nName\tTier\nAcme\t1\n"])
  func theDelimiterIsTheHeaders(_ text: String) throws {
    let rows = try records(text)
    #expect(rows.map(\.fields.count) == [2, 2], "\(rows.map(\.fields))")
  }

  @Test func anUnclosedQuoteNamesItsLine() throws {
    #expect(throws: CSVRows.ParseError.self) { try records("a,b\n1,\"open\n2,3\n") }
    do {
      _ = try records("a,b\n1,\"open\n2,3\n")
    } catch let error as CSVRows.ParseError {
      #expect(error.line == 2)
    }
  }

  /// A record that is not UTF-8 is refused on its own, by its line; the records after it are read.
  @Test func aLineThatIsNotUTF8IsRefusedAndReadingGoesOn() throws {
    var bytes = Array("a,b\n1,2\n\"3\n3\",".utf8)
    bytes += [0xFF, 0xFE]
    bytes += Array("\n4,5\n".utf8)
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tally-csv-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let path = directory.appendingPathComponent("latin1.csv").path
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    var rows = try CSVRows(path: path)
    #expect(try rows.next()?.fields == ["a", "b"])
    #expect(try rows.next()?.fields == ["1", "2"])
    #expect(throws: CSVRows.UnreadableRecord(line: 3, reason: "is not UTF-8; save the file as UTF-8")) {
      try rows.next()
    }
    let after = try rows.next()
    #expect(after?.fields == ["4", "5"])
    #expect(after?.line == 5)
    #expect(try rows.next() == nil)
  }

  @Test func aCarriageReturnInsideQuotesIsKept() throws {
    let rows = try records("a,b\r\n\"x\ry\",\"two\r\nlines\"\r\n")
    #expect(rows.map(\.fields) == [["a", "b"], ["x\ry", "two\r\nlines"]])
  }

  /// Old Mac spreadsheets end lines with a lone CR: each is a line end, not a character dropped
  /// (which made the whole file one record).
  @Test func loneCarriageReturnsEndLines() throws {
    let rows = try records("Name;Tier\rAcme;1\r\"two\rlines\";2\r\rGlobex;3")
    #expect(rows.map(\.fields) == [["Name", "Tier"], ["Acme", "1"], ["two\rlines", "2"], ["Globex", "3"]])
    #expect(rows.map(\.line) == [1, 2, 3, 5])
  }

  @Test func aLargeFileIsReadAcrossChunks() throws {
    let body = (0..<50_000).map { "k\($0),\"v,\($0)\"" }.joined(separator: "\n")
    try withFile("key,value\n" + body) { path in
      var rows = try CSVRows(path: path)
      var count = 0
      var last: CSVRows.Record?
      while let record = try rows.next() {
        count += 1
        last = record
      }
      #expect(count == 50_001)
      #expect(last?.fields == ["k49999", "v,49999"])
      #expect(rows.bytesRead == rows.totalBytes)
    }
  }
}

@Suite struct ColumnMappingTests {
  @Test func hubSpotAndSalesforceHeadersMapWithoutHelp() throws {
    let hubSpot = try ColumnMapping(
      header: [
        "Record ID", "Company name", "Company Domain Name", "Number of Employees", "Annual Revenue",
        "Company owner", "Create Date",
      ],
      kind: .accounts, overrides: [])
    #expect(hubSpot.missing(["id", "name", "domain", "employee_count", "annual_revenue", "owner"]).isEmpty)
    #expect(hubSpot.unmappedColumns == ["Create Date"])
    let salesforce = try ColumnMapping(
      header: ["Account ID", "Account Name", "Website", "Industry", "AnnualRevenue", "NumberOfEmployees"],
      kind: .accounts, overrides: [])
    #expect(salesforce.missing(["id", "name", "domain", "industry", "annual_revenue", "employee_count"]).isEmpty)
    let fields = ["001", "Acme", "https://www.acme.com/", "Retail", "1,000,000.50", "250"]
    let account = try ImportRows.account(fields, salesforce)
    #expect(account.id == "001" && account.domain == "acme.com" && account.annualRevenue == 100_000_050)
    #expect(account.employeeCount == 250)
  }

  @Test func overridesNameUnknownColumnsAndRefuseMistakes() throws {
    let columns = try ColumnMapping(
      header: ["Event", "When", "What", "Page"], kind: .events,
      overrides: ["Event=key", "When=occurred_at", "What=type", "Page=properties.page"])
    let event = try ImportRows.event(["e1", "2026-03-01 10:00:00", "web_visit", "/pricing"], columns)
    #expect(event.key == "e1" && event.type == "web_visit" && event.properties == ["page": "/pricing"])
    #expect(event.occurredAt.seconds == 1_772_359_200)
    // Trimmed as every mapped field is; a cell of spaces is an empty one.
    let padded = try ImportRows.event(["e2", "2026-03-01", "web_visit", "  /pricing "], columns)
    #expect(padded.properties == ["page": "/pricing"])
    #expect(try ImportRows.event(["e3", "2026-03-01", "web_visit", "   "], columns).properties.isEmpty)
    #expect(throws: ColumnMapping.MappingError.self) {
      try ColumnMapping(header: ["A"], kind: .events, overrides: ["A=nonsense"])
    }
    #expect(throws: ColumnMapping.MappingError.self) {
      try ColumnMapping(header: ["A"], kind: .events, overrides: ["B=key"])
    }
    #expect(throws: ColumnMapping.MappingError.self) {
      try ColumnMapping(header: ["Key", "Event ID"], kind: .events, overrides: [])
    }
  }

  /// A file that repeats a column ("Email" twice, as a CRM export may): its refusal names the two by
  /// position, either can be kept with --map "#N=-" for the other, and the shared name names neither.
  @Test func aRepeatedColumnIsNamedByItsPosition() throws {
    let header = ["Contact ID", "Email", "Name", "Email"]
    let refused = #expect(throws: ColumnMapping.MappingError.self) {
      try ColumnMapping(header: header, kind: .contacts, overrides: [])
    }
    #expect(
      refused?.description
        == "columns \"Email\" and \"Email\" both map to email; pick one with --map \"#4=-\" or --map \"#2=-\"")
    let row = ["c1", "first@example.com", "Ada", "second@example.com"]
    let keepFirst = try ColumnMapping(header: header, kind: .contacts, overrides: ["#4=-"])
    #expect(keepFirst.value("email", in: row) == "first@example.com" && keepFirst.unmappedColumns == ["Email"])
    let keepSecond = try ColumnMapping(header: header, kind: .contacts, overrides: ["#2=-"])
    #expect(keepSecond.value("email", in: row) == "second@example.com")
    let ambiguous = #expect(throws: ColumnMapping.MappingError.self) {
      try ColumnMapping(header: header, kind: .contacts, overrides: ["Email=-"])
    }
    #expect(
      ambiguous?.description
        == "--map: 2 columns of the file are named \"Email\" (#2, #4); name one by its position, as --map \"#2=field\"")
    // Names that differ only in case and spacing are one name when none is written as typed.
    #expect(throws: ColumnMapping.MappingError.self) {
      try ColumnMapping(header: ["Company ID", "company_id"], kind: .contacts, overrides: ["companyid=-"])
    }
    // A column named "#2" is that column, not the second one; past the header's end, no column.
    let hashed = try ColumnMapping(header: ["#2", "Contact ID"], kind: .contacts, overrides: ["#2=title"])
    #expect(hashed.value("title", in: ["boss", "c1"]) == "boss")
    #expect(throws: ColumnMapping.MappingError.self) {
      try ColumnMapping(header: header, kind: .contacts, overrides: ["#5=-"])
    }
  }

  /// An event's whole numbers follow the file's decimal mark, as an account's do: in a file of
  /// decimal commas "1.200" is twelve hundred (it was refused there, and accepted in the accounts).
  @Test func eventNumbersFollowTheFilesDecimalMark() throws {
    let columns = try ColumnMapping(
      header: ["Event ID", "Timestamp", "Event Type", "Seconds", "Worth"], kind: .events,
      overrides: ["Seconds=duration_seconds", "Worth=value"])
    let row = ["e1", "2026-03-01", "web_visit", "1.200", "2.500"]
    let event = try ImportRows.event(row, columns, decimalSeparator: .comma)
    #expect(event.durationSeconds == 1_200 && event.value == 2_500)
    #expect(throws: ImportParsing.ValueError.self) { try ImportRows.event(row, columns) }
    let tooLong = #expect(throws: ImportParsing.ValueError.self) {
      try ImportRows.event(["e2", "2026-03-01", "web_visit", "5000000000", "1"], columns)
    }
    #expect(tooLong?.problem == "must be 0 to 86400 (a day), got 5000000000")
  }

  /// A row with cells missing or extra cannot say which value is which field: it is refused with
  /// both counts, and the rows around it are read as usual.
  @Test func aRowWithoutOneCellPerColumnIsRefused() throws {
    let columns = try ColumnMapping(header: ["Event ID", "Timestamp", "Event Type"], kind: .events, overrides: [])
    #expect(throws: ColumnMapping.CellCountError(cells: 2, columns: 3)) {
      try ImportRows.event(["e1", "2026-03-01"], columns)
    }
    #expect(throws: ColumnMapping.CellCountError(cells: 4, columns: 3)) {
      try ImportRows.event(["e2", "2026-03-01", "web_visit", "extra"], columns)
    }
    #expect(try ImportRows.event(["e3", "2026-03-01", "web_visit"], columns).key == "e3")
    #expect(
      "\(ColumnMapping.CellCountError(cells: 2, columns: 3))"
        == "has 2 cells where the header has 3 columns; each row needs one cell per column "
        + "(quote a cell that holds the delimiter)")
    let accounts = try ColumnMapping(header: ["Account ID", "Account Name"], kind: .accounts, overrides: [])
    #expect(throws: ColumnMapping.CellCountError.self) { try ImportRows.account(["001"], accounts) }
    let contacts = try ColumnMapping(header: ["Contact ID", "Account ID"], kind: .contacts, overrides: [])
    #expect(throws: ColumnMapping.CellCountError.self) { try ImportRows.contact(["c1", "001", "x"], contacts) }
  }

  @Test func contactsJoinFirstAndLastNames() throws {
    let columns = try ColumnMapping(
      header: ["Record ID", "First Name", "Last Name", "Associated Company ID", "Buying Role"],
      kind: .contacts, overrides: [])
    let contact = try ImportRows.contact(["c1", "Ana", "Lima", "acme", "Decision Maker"], columns)
    #expect(contact.name == "Ana Lima" && contact.accountID == "acme" && contact.role == "decision_maker")
  }
}

@Suite struct ImportParsingTests {
  @Test(arguments: [
    ("2026-03-01", Int64(1_772_323_200_000_000)),
    ("2026-03-01T10:00:00Z", 1_772_359_200_000_000),
    ("2026-03-01T12:00:00+02:00", 1_772_359_200_000_000),
    ("2026-03-01 10:00:00.25", 1_772_359_200_250_000),
    ("2026-03-01T10:00", 1_772_359_200_000_000),
    ("1772359200", 1_772_359_200_000_000),
    ("1772359200123", 1_772_359_200_123_000),
    ("1969-12-31T23:59:59Z", -1_000_000),
    ("2026-03-01T12:30:00+0230", 1_772_359_200_000_000),
    ("2026-03-01T07:00:00-03", 1_772_359_200_000_000),
  ])
  func timestampsInTheFormsExportsWrite(_ text: String, _ micros: Int64) throws {
    #expect(try ImportParsing.timestamp(text, field: "t") == micros)
  }

  @Test(arguments: [
    "2026-02-30", "31/02/2024", "2026-13-01", "yesterday", "2026-03-01T25:00:00Z", "12345",
    // Offsets past a day, minutes past an hour, a colon without its minutes.
    "2026-03-01T10:00:00+99:99", "2026-03-01T10:00:00+24:00", "2026-03-01T10:00:00+02:60", "2026-03-01T10:00:00+02:",
  ])
  func impossibleTimesAreRefused(_ text: String) {
    #expect(throws: ImportParsing.ValueError.self) { try ImportParsing.timestamp(text, field: "occurred_at") }
  }

  @Test func moneyAndTiersAndBooleans() throws {
    #expect(try ImportParsing.money("$1,234.5", field: "arr") == 123_450)
    #expect(try ImportParsing.money("€ 12", field: "arr") == 1_200)
    #expect(try ImportParsing.money("-5", field: "arr") == -500)
    #expect(throws: ImportParsing.ValueError.self) { try ImportParsing.money("1.234", field: "arr") }
    #expect(throws: ImportParsing.ValueError.self) { try ImportParsing.money("lots", field: "arr") }
    // A digit with a combining accent is no digit: its decimals were read as 0.
    #expect(throws: ImportParsing.ValueError.self) { try ImportParsing.money("1.5\u{301}", field: "arr") }
    #expect(throws: ImportParsing.ValueError.self) { try ImportParsing.money("1\u{301}", field: "arr") }
    #expect(try ImportParsing.money("1234", field: "arr", minorDigits: 0) == 1_234)
    // A space inside an amount groups thousands, or the amount is refused: "12 50" was 1250.00.
    #expect(try ImportParsing.money("12 500,50", field: "arr", decimalSeparator: .comma) == 1_250_050)
    #expect(try ImportParsing.money("\u{00A0}1\u{202F}234.5 ", field: "arr") == 123_450)
    for text in ["12 50", "1 23.45", "1 234,567.5", "12 5"] {
      #expect(throws: ImportParsing.ValueError.self, "\(text)") { try ImportParsing.money(text, field: "arr") }
    }
    #expect(throws: ImportParsing.ValueError.self) {
      try ImportParsing.money("1 23,45", field: "arr", decimalSeparator: .comma)
    }
    #expect(try ImportParsing.integer("1,200", field: "n") == 1_200)
    #expect(try ImportParsing.integer(" 12 500 ", field: "n") == 12_500)
    #expect(try ImportParsing.integer("-3", field: "n") == -3)
    for text in ["1,5", "12,5", "1,2000", ",100", "1, 200", "1.5", ""] {
      #expect(throws: ImportParsing.ValueError.self, "\(text)") { try ImportParsing.integer(text, field: "n") }
    }
    // A file of decimal commas groups its thousands with points; a no-break space groups in any.
    #expect(try ImportParsing.integer("1.200", field: "n", decimalSeparator: .comma) == 1_200)
    #expect(try ImportParsing.integer("1\u{00A0}200", field: "n") == 1_200)
    #expect(throws: ImportParsing.ValueError.self) { try ImportParsing.integer("1.200", field: "n") }
    #expect(throws: ImportParsing.ValueError.self) {
      try ImportParsing.integer("1,200", field: "n", decimalSeparator: .comma)
    }
    #expect(try ImportParsing.tier("Tier 2", field: "tier") == 2)
    #expect(try ImportParsing.tier("T1", field: "tier") == 1)
    #expect(try ImportParsing.tier("tier-3", field: "tier") == 3)
    #expect(try ImportParsing.tier(" 2.0 ", field: "tier") == 2)
    #expect(try ImportParsing.tier("None", field: "tier") == 0)
    // A sign or a fraction is no tier: "-1" was read as 1 (a target), "2.5" as 25.
    for text in ["-1", "2.5", "+2", "Tier 1 or 2", "", "1e1", "1\u{301}"] {
      #expect(throws: ImportParsing.ValueError.self, "\(text)") { try ImportParsing.tier(text, field: "tier") }
    }
    #expect(try ImportParsing.bool("Yes", field: "in_icp"))
    #expect(throws: ImportParsing.ValueError.self) { try ImportParsing.bool("maybe", field: "in_icp") }
    #expect(ImportParsing.domain("HTTPS://www.Example.com/about?x=1") == "example.com")
  }

  /// Why `money` refused `text`; nil if it took it.
  private func moneyProblem(_ text: String, _ separator: ImportParsing.DecimalSeparator = .point) -> String? {
    do {
      _ = try ImportParsing.money(text, field: "arr", decimalSeparator: separator)
      return nil
    } catch {
      return (error as? ImportParsing.ValueError)?.problem ?? "\(error)"
    }
  }

  /// A semicolon-separated file's amounts have a decimal comma. Elsewhere a comma stands only
  /// between thousands, so "12,50" could mean 12.50 or 1250 and is refused rather than guessed.
  @Test func decimalCommasInSemicolonFilesAndAmbiguousCommasElsewhere() throws {
    #expect(try ImportParsing.money("12,50", field: "arr", decimalSeparator: .comma) == 1_250)
    #expect(try ImportParsing.money("1.234,5", field: "arr", decimalSeparator: .comma) == 123_450)
    #expect(try ImportParsing.money("€ 1 234,56", field: "arr", decimalSeparator: .comma) == 123_456)
    #expect(try ImportParsing.money("1,234.50", field: "arr") == 123_450)
    #expect(try ImportParsing.money("12,500", field: "arr") == 1_250_000)
    #expect(
      self.moneyProblem("12,50")
        == "\"12,50\" has a comma that does not stand before three digits, so it cannot be told from a decimal "
        + "comma; this file's amounts take a decimal point: 1234.56")
    #expect(self.moneyProblem("1,2") != nil)
    #expect(self.moneyProblem("12 50")?.hasPrefix("\"12 50\" has a space that does not stand before three") == true)
    #expect(self.moneyProblem("12.50", .comma)?.contains("take a decimal comma: 1234,56") == true)
    #expect(ImportParsing.DecimalSeparator(csvDelimiter: UInt8(ascii: ";")) == .comma)
    #expect(ImportParsing.DecimalSeparator(csvDelimiter: UInt8(ascii: ",")) == .point)
    try withFile("Account ID;Account Name;ARR\n001;Acme;12,50\n") { path in
      var rows = try CSVRows(path: path)
      let header = try #require(try rows.next())
      let columns = try ColumnMapping(header: header.fields, kind: .accounts, overrides: [])
      let record = try #require(try rows.next())
      let account = try ImportRows.account(
        record.fields, columns, decimalSeparator: ImportParsing.DecimalSeparator(csvDelimiter: rows.delimiter))
      #expect(account.arr == 1_250)
    }
  }

  /// A yen tenant's amounts are whole yen: ¥1,000,000 is stored as 1,000,000, not 100,000,000.
  @Test func amountsAreInTheTenantsMinorUnits() throws {
    let columns = try ColumnMapping(header: ["Account ID", "Account Name", "ARR"], kind: .accounts, overrides: [])
    let fields = ["001", "Acme", "1,000,000"]
    #expect(try ImportRows.account(fields, columns, minorDigits: KpiReport.minorDigits("JPY")).arr == 1_000_000)
    #expect(try ImportRows.account(fields, columns, minorDigits: KpiReport.minorDigits("EUR")).arr == 100_000_000)
    #expect(throws: ImportParsing.ValueError.self) {
      try ImportRows.account(["001", "Acme", "1,000.50"], columns, minorDigits: 0)
    }
    // Dinars have three decimals (fils), Rwandan francs none, as ISO 4217 has them.
    let kwd = KpiReport.minorDigits("KWD")
    #expect(try ImportRows.account(["001", "Acme", "1,234.567"], columns, minorDigits: kwd).arr == 1_234_567)
    #expect(try ImportRows.account(["001", "Acme", "1234.5"], columns, minorDigits: kwd).arr == 1_234_500)
    #expect(
      try ImportRows.account(["001", "Acme", "1000"], columns, minorDigits: KpiReport.minorDigits("RWF")).arr == 1_000)
  }

  /// Amounts above the server's 10^15 minor units are refused with the reason, not a trap: the
  /// largest is taken, one minor unit more is not, nor is anything past 64 bits.
  @Test func amountsAboveTheLargestAreRefused() throws {
    #expect(try ImportParsing.money("10,000,000,000,000.00", field: "arr") == ImportParsing.maxMoney)
    #expect(try ImportParsing.money("-10000000000000", field: "arr") == -ImportParsing.maxMoney)
    for text in ["10,000,000,000,000.01", "92233720368547758.08", "92233720368547758", "99999999999999999999999"] {
      #expect(
        self.moneyProblem(text)
          == "\"\(text)\" is more than the largest amount, 10^15 minor units (10,000,000,000,000.00 with two decimals)"
      )
    }
  }

  @Test func progressLineShowsRateAndTimeLeft() {
    let progress = ImportProgress(totalBytes: 1000)
    let line = progress.line(rows: 420_000, bytes: 500)
    #expect(line.hasPrefix("[############............]  50%  420,000 rows"))
    #expect(ImportProgress.grouped(1_234_567) == "1,234,567")
  }
}

/// An NDJSON line that is no event says which key is wrong, and why.
@Suite struct EventJSONLineTests {
  @Test func aGoodLineIsAnEvent() throws {
    let event = try ImportRows.event(jsonLine: #"{"key":"k1","type":"web_visit","occurred_at":"2026-01-02T03:04:05Z"}"#)
    #expect(event.key == "k1" && event.type == "web_visit" && event.occurredAt.seconds == 1_767_323_045)
  }

  @Test func aBadLineNamesItsField() {
    func problem(_ line: String) -> ImportParsing.ValueError? {
      #expect(throws: ImportParsing.ValueError.self) { try ImportRows.event(jsonLine: line) }
    }
    #expect(problem(#"{"key":"k1","ocurred_at":"2026-01-02T03:04:05Z"}"#)?.field == "ocurred_at")
    let value = problem(#"{"key":"k1","duration_seconds":"long","type":"web_visit"}"#)
    #expect(value?.field == "duration_seconds" && value?.problem.contains("valid value") == true)
    #expect(problem(#"{"key":"k1","occurred_at":"yesterday"}"#)?.field == "occurred_at")
    #expect(problem("[1, 2]")?.field == "line")
    #expect(problem("{not json")?.field == "line")
  }
}
