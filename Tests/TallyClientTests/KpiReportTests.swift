import Foundation
import TallyClient
import TallyProto
import Testing

@Suite struct KpiPeriodArgumentTests {
  static let today = ISO8601DateFormatter().date(from: "2026-02-14T10:00:00Z")!

  @Test func namedAndRelativePeriods() {
    let parse = { (text: String) in KpiPeriodArgument.parse(text, today: Self.today).map { [$0.from, $0.to] } }
    #expect(parse("last-quarter") == ["2025-10-01", "2026-01-01"])
    #expect(parse("this-quarter") == ["2026-01-01", "2026-04-01"])
    #expect(parse("last-month") == ["2026-01-01", "2026-02-01"])
    #expect(parse("this-month") == ["2026-02-01", "2026-03-01"])
    #expect(parse("last-year") == ["2025-01-01", "2026-01-01"])
    #expect(parse("2026") == ["2026-01-01", "2027-01-01"])
    #expect(parse("2026-Q4") == ["2026-10-01", "2027-01-01"])
    #expect(parse("2026-12") == ["2026-12-01", "2027-01-01"])
    for bad in ["2026-Q5", "2026-13", "26", "2026-1", "yesterday", "1999", "2026-03-01"] {
      #expect(parse(bad) == nil, "\(bad)")
    }
  }
}

@Suite struct KpiReportTests {
  static func point(_ value: Double?, numerator: Double, denominator: Double? = nil) -> Tally_V1_KpiPoint {
    var point = Tally_V1_KpiPoint()
    if let value { point.value = value }
    point.numerator = numerator
    if let denominator { point.denominator = denominator }
    return point
  }

  @Test func valuesInTheirUnits() {
    #expect(KpiReport.format(0.125, "ratio", "EUR") == "12.5 %")
    #expect(KpiReport.format(1_234_567, "count", "EUR") == "1,234,567")
    #expect(KpiReport.format(96.3, "minutes", "EUR") == "96.3 min")
    #expect(KpiReport.format(125_000, "money", "EUR") == "1,250.00 EUR")
    #expect(KpiReport.format(125_000, "money", "JPY") == "125,000 JPY")
    #expect(KpiReport.format(1_500, "money", "KWD") == "1.500 KWD")
    #expect(KpiReport.format(1_500, "money", "RWF") == "1,500 RWF")
    #expect(KpiReport.format(-4_250, "money", "USD") == "-42.50 USD")
    #expect(KpiReport.format(Self.point(nil, numerator: 3, denominator: 0), "ratio", "EUR") == "no data")
  }

  @Test func rowsShowChangeAndTrend() {
    var response = Tally_V1_GetKpisResponse()
    response.currency = "EUR"
    var rate = Tally_V1_KpiValue()
    rate.name = "win_rate"
    rate.unit = "ratio"
    rate.current = Self.point(0.5, numerator: 1, denominator: 2)
    rate.previous = Self.point(0.25, numerator: 1, denominator: 4)
    rate.change = 0.25
    rate.relativeChange = 1
    rate.trend = [
      Self.point(nil, numerator: 0, denominator: 0), Self.point(1, numerator: 1, denominator: 1),
      Self.point(0, numerator: 0, denominator: 1),
    ]
    var count = Tally_V1_KpiValue()
    count.name = "form_fills"
    count.unit = "count"
    count.current = Self.point(8, numerator: 8)
    count.previous = Self.point(10, numerator: 10)
    count.change = -2
    count.relativeChange = -0.2
    count.trend = [Self.point(2, numerator: 2), Self.point(2, numerator: 2)]
    response.kpis = [rate, count]
    let rows = KpiReport.rows(response)
    #expect(rows[0] == ["win_rate", "50.0 %", "25.0 %", "▲ +25.0 pts", "·█▁"])
    // A flat trend sits in the middle.
    #expect(rows[1] == ["form_fills", "8", "10", "▼ -20.0 %", "▅▅"])
  }

  /// `-o csv` gives a spreadsheet numbers: one row per KPI and period, no units, bars or words.
  @Test func csvRowsHoldTheNumbersPerPeriod() {
    var response = Tally_V1_GetKpisResponse()
    (response.from, response.to, response.previousFrom, response.previousTo) =
      ("2026-07-01", "2026-10-01", "2026-04-01", "2026-07-01")
    response.currency = "EUR"
    var rate = Tally_V1_KpiValue()
    rate.name = "win_rate"
    rate.unit = "ratio"
    rate.current = Self.point(0.125, numerator: 1, denominator: 8)
    rate.previous = Self.point(nil, numerator: 0, denominator: 0)
    var bucket = Self.point(0.5, numerator: 1, denominator: 2)
    (bucket.from, bucket.to) = ("2026-07-01", "2026-08-01")
    rate.trend = [bucket]
    var spend = Tally_V1_KpiValue()
    spend.name = "program_spend"
    spend.unit = "money"
    spend.current = Self.point(125_000, numerator: 125_000)
    spend.previous = Self.point(1.0e17, numerator: 1.0e17)
    var nps = Tally_V1_KpiValue()
    nps.name = "nps"
    nps.unit = "score"
    var npsPoint = Self.point(40, numerator: 40, denominator: 1)
    npsPoint.marginOfError = 12.5
    nps.current = npsPoint
    nps.previous = Self.point(20, numerator: 20, denominator: 1)
    (nps.change, nps.relativeChange, nps.combinedMargin, nps.changeBeyondMargin) = (20, 1.5, 17.5, true)
    response.kpis = [rate, spend, nps]
    let none = ["", "", "", ""]
    #expect(
      KpiReport.csvRows(response) == [
        ["win_rate", "ratio", "EUR", "current", "2026-07-01", "2026-10-01", "0.125", "1", "8", ""] + none,
        ["win_rate", "ratio", "EUR", "previous", "2026-04-01", "2026-07-01", "", "0", "0", ""] + none,
        ["win_rate", "ratio", "EUR", "bucket", "2026-07-01", "2026-08-01", "0.5", "1", "2", ""] + none,
        ["program_spend", "money", "EUR", "current", "2026-07-01", "2026-10-01", "125000", "125000", "", ""] + none,
        ["program_spend", "money", "EUR", "previous", "2026-04-01", "2026-07-01", "1e+17", "1e+17", "", ""] + none,
        [
          "nps", "score", "EUR", "current", "2026-07-01", "2026-10-01", "40", "40", "1", "12.5", "20", "1.5", "17.5",
          "true",
        ],
        ["nps", "score", "EUR", "previous", "2026-04-01", "2026-07-01", "20", "20", "1", ""] + none,
      ])
    #expect(KpiReport.csvHeader.count == KpiReport.csvRows(response)[0].count)
  }

  @Test func leftOutKpisAreNamedByReason() {
    var response = Tally_V1_GetKpisResponse()
    #expect(KpiReport.leftOutNote(response) == nil)
    response.leftOut = [
      ("nps", "cannot be filtered at all"), ("cac", "by cost"), ("enps", "cannot be filtered at all"),
    ]
    .map { name, reason in
      var entry = Tally_V1_KpiLeftOut()
      (entry.name, entry.reason) = (name, reason)
      return entry
    }
    #expect(
      KpiReport.leftOutNote(response)
        == "left out by the filter: cac (by cost); nps, enps (cannot be filtered at all)")
  }

  @Test func plainNumbersForSpreadsheets() {
    #expect(KpiReport.plain(9_007_199_254_740_992) == "9007199254740992")
    #expect(KpiReport.plain(0.125) == "0.125")
    #expect(KpiReport.plainMoney(125_000, "EUR") == "1250.00")
    #expect(KpiReport.plainMoney(-4_250, "USD") == "-42.50")
    #expect(KpiReport.plainMoney(125_000, "JPY") == "125000")
  }

  @Test func aSurveyScoresChangeIsInPointsAgainstItsMargin() {
    var kpi = Tally_V1_KpiValue()
    kpi.unit = "score"
    (kpi.change, kpi.relativeChange, kpi.combinedMargin, kpi.changeBeyondMargin) = (120, 2, 70.14, true)
    #expect(KpiReport.change(kpi) == "▲ +120.0 pts (beyond ±70.1)")
    (kpi.change, kpi.changeBeyondMargin) = (-12, false)
    #expect(KpiReport.change(kpi) == "▼ -12.0 pts (within ±70.1)")
  }

  /// A server's numbers are not trusted: NaN and infinities in a trend draw gaps, never a trap.
  @Test func nonFiniteTrendPointsAreGaps() {
    var kpi = Tally_V1_KpiValue()
    kpi.name = "odd"
    kpi.unit = "count"
    kpi.current = Self.point(.nan, numerator: 1)
    kpi.trend = [
      Self.point(.nan, numerator: 0), Self.point(1, numerator: 1), Self.point(.infinity, numerator: 1),
      Self.point(-.infinity, numerator: 1), Self.point(3, numerator: 3),
    ]
    var response = Tally_V1_GetKpisResponse()
    response.kpis = [kpi]
    #expect(KpiReport.rows(response)[0] == ["odd", "nan", "no data", "-", "·▁··█"])
    kpi.trend = [Self.point(.nan, numerator: 0), Self.point(-.infinity, numerator: 0)]
    response.kpis = [kpi]
    #expect(KpiReport.rows(response)[0].last == "··")
  }

  @Test func explainShowsTheParts() {
    var definition = Tally_V1_KpiDefinition()
    definition.name = "win_rate"
    definition.family = "pipeline"
    definition.headline = true
    definition.definition = "Closed-won / (closed-won + closed-lost), by close date."
    definition.numerator = "opportunities won"
    definition.denominator = "opportunities won or lost"
    var response = Tally_V1_GetKpisResponse()
    (response.from, response.to, response.previousFrom, response.previousTo) = (
      "2026-01-01", "2026-04-01", "2025-10-03", "2026-01-01"
    )
    var kpi = Tally_V1_KpiValue()
    kpi.unit = "ratio"
    kpi.current = Self.point(nil, numerator: 0, denominator: 0)
    kpi.previous = Self.point(0.5, numerator: 1, denominator: 2)
    response.kpis = [kpi]
    let lines = KpiReport.explanation(definition, response, filters: ["tier 1 or 2"])
    #expect(lines.contains("Value        no data"))
    #expect(lines.contains("Numerator    0: opportunities won"))
    #expect(lines.contains("Denominator  0: opportunities won or lost"))
    #expect(lines.contains("             a denominator of 0 means no data, not 0"))
    #expect(lines.contains("Previous     50.0 % (2025-10-03 up to 2026-01-01)"))
    #expect(lines.last == "Filters      tier 1 or 2")

    // A money average: its numerator is money too, its denominator as it is.
    definition.name = "pipeline_velocity"
    (definition.numerator, definition.denominator) = ("open × deal size × win rate", "mean cycle days")
    kpi.unit = "money"
    kpi.current = Self.point(12_500_000 / 37.4, numerator: 12_500_000, denominator: 37.4)
    response.kpis = [kpi]
    response.currency = "EUR"
    let money = KpiReport.explanation(definition, response, filters: [])
    #expect(money.contains("Numerator    125,000.00 EUR: open × deal size × win rate"), "\(money)")
    #expect(money.contains("Denominator  37.40: mean cycle days"), "\(money)")
  }
}
