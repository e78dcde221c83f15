import Foundation
import TallyClient
import TallyProto
import Testing

/// The HTML report: self-contained, escaped, and every section drawn from its response.
@Suite struct HtmlReportTests {
  static func report() -> HtmlReport {
    var report = HtmlReport()
    report.dashboard.from = "2026-01-01"
    report.dashboard.to = "2026-04-01"
    report.dashboard.currency = "EUR"
    var kpi = Tally_V1_KpiValue()
    kpi.name = "win_rate"
    kpi.unit = "ratio"
    kpi.current.value = 0.25
    kpi.previous.value = 0.5
    kpi.change = -0.25
    kpi.trend = [0.1, nil, 0.3, 0.2].map { value in
      var point = Tally_V1_KpiPoint()
      if let value { point.value = value }
      return point
    }
    report.dashboard.kpis = [kpi]
    var definition = Tally_V1_KpiDefinition()
    definition.definition = "Won / (won + lost) & more"
    report.definitions = ["win_rate": definition]
    var stage = Tally_V1_JourneyStage()
    (stage.stage, stage.reached, stage.conversionToNext) = ("aware", 10, 0.5)
    report.journey.stages = [stage]
    var campaign = Tally_V1_CampaignAttribution()
    (campaign.campaignID, campaign.name, campaign.attributedRevenue, campaign.cost) = (
      "c1", "<script>x</script>", 500, 100
    )
    campaign.roi = 4
    report.attribution.campaigns = [campaign]
    report.attribution.currency = "EUR"
    report.influence.summary = "Accounts in the top engagement quartile close 37 % faster"
    return report
  }

  @Test func thePageIsSelfContainedAndEscapesWhatTheServerSent() {
    let page = Self.report().render()
    #expect(page.hasPrefix("<!DOCTYPE html>") && page.hasSuffix("</html>"))
    #expect(!page.contains("<script") && !page.contains("http") && !page.contains("src="))
    #expect(page.contains("&lt;script&gt;x&lt;/script&gt;") && page.contains("Won / (won + lost) &amp; more"))
    for title in [
      "Dashboard", "Journey", "Most engaged accounts", "Does engagement pay?", "Campaigns", "NPS and eNPS",
      "Customers to look after",
    ] {
      #expect(page.contains("<h2>\(Html.escape(title))</h2>"), "\(title)")
    }
    #expect(page.contains("25.0 %") && page.contains("▼ -25.0 pts") && page.contains("400 %"))
    #expect(page.contains("close 37 % faster") && page.contains("50 % go on"))
    #expect(page.components(separatedBy: "<section>").count == 8)
  }

  @Test func sparklinesBreakAtGapsAndBarsScaleToTheLargest() {
    let gap = SvgChart.sparkline([1, 2, nil, 3, 4])
    #expect(gap.components(separatedBy: "<polyline").count == 3, "two segments around the gap")
    #expect(SvgChart.sparkline([nil, nil]).contains("no trend"))
    #expect(SvgChart.sparkline([1, nil, 2]).components(separatedBy: "<circle").count == 3)
    let bars = SvgChart.bars([("a", 10, "10"), ("b", 5, "5"), ("c", 0, "0")], width: 560)
    // 560 − 150 label − 110 text = 300 for the largest.
    #expect(bars.contains("width=\"300.0\"") && bars.contains("width=\"150.0\"") && bars.contains("width=\"0.0\""))
    #expect(Html.escape("a<b>&\"'") == "a&lt;b&gt;&amp;&quot;&#39;")
  }

  @Test func barsOfNonFiniteValuesAreEmpty() {
    let bars = SvgChart.bars([("a", .nan, "nan"), ("b", .infinity, "inf"), ("c", 2, "2")], width: 560)
    #expect(bars.components(separatedBy: "width=\"0.0\"").count == 3 && bars.contains("width=\"300.0\""))
  }
}
