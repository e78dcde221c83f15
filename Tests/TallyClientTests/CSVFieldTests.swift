import TallyClient
import Testing

@Suite struct CSVFieldTests {
  @Test func quotesWhatWouldSplitACell() {
    #expect(CSVField.escaped("Acme") == "Acme")
    #expect(CSVField.escaped("Acme, Inc.") == "\"Acme, Inc.\"")
    #expect(CSVField.escaped("say \"hi\"") == "\"say \"\"hi\"\"\"")
    #expect(CSVField.escaped("two\nlines") == "\"two\nlines\"")
  }

  /// A tenant's own text must not run as a formula in the spreadsheet that opens the file.
  @Test func aTextAFormulaWouldStartWithIsShownAsText() {
    #expect(CSVField.escaped("=HYPERLINK(\"http://evil\",\"x\")") == "\"'=HYPERLINK(\"\"http://evil\"\",\"\"x\"\")\"")
    #expect(CSVField.escaped("+1 555 0100 call") == "'+1 555 0100 call")
    #expect(CSVField.escaped("-2+3") == "'-2+3")
    #expect(CSVField.escaped("@SUM(A1:A2)") == "'@SUM(A1:A2)")
    #expect(CSVField.escaped("\tcmd") == "\"'\tcmd\"")
    #expect(CSVField.escaped("\r=1") == "\"'\r=1\"")
    // A semicolon or tab separates cells in other locales: quoted, the formula after it stays text.
    #expect(CSVField.escaped("x;=cmd|' /C calc'!A0") == "\"x;=cmd|' /C calc'!A0\"")
    #expect(CSVField.escaped("x\t=1") == "\"x\t=1\"")
  }

  @Test func numbersAndTheMissingMarkStayAsTheyAre() {
    #expect(CSVField.escaped("-12.5") == "-12.5")
    #expect(CSVField.escaped("+3") == "+3")
    #expect(CSVField.escaped("-1e-3") == "-1e-3")
    #expect(CSVField.escaped("-") == "-")
    #expect(CSVField.escaped("") == "")
  }
}
