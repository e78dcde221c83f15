import Testing

@testable import TallyClient

/// Tables line up in a terminal whatever the script of their cells.
@Suite struct TextTableTests {
  @Test func wideAndCombiningCharactersTakeTheirTerminalColumns() {
    #expect(TextTable.displayWidth("Acme") == 4)
    #expect(TextTable.displayWidth("東京電力") == 8)
    #expect(TextTable.displayWidth("👍🏽 ok") == 5)
    #expect(TextTable.displayWidth("cafe\u{301}") == 4)
    #expect(TextTable.displayWidth("ＡＢ") == 4)
  }

  @Test func columnsAfterAWideCellStayInLine() {
    let lines = TextTable.lines([["ID", "NAME", "TIER"], ["a1", "東京電力", "1"], ["a2", "Acme", "2"]])
    #expect(lines == ["ID  NAME      TIER", "a1  東京電力  1", "a2  Acme      2"])
  }
}
