import Foundation
public import TallyProto

/// `tally kpi` as text: each KPI's value in its unit, the previous period, the change with ▲/▼,
/// and its trend as a sparkline; "no data" where a denominator is 0.
public enum KpiReport {
  /// ISO 4217's exponents other than 2: how many decimals a currency's minor units make.
  static let exponents: [String: Int] = [
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0, "RWF": 0, "UGX": 0,
    "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
    "CLF": 4, "UYW": 4,
  ]

  /// How many of a money amount's minor-unit digits go after the decimal point in `currency`.
  public static func minorDigits(_ currency: String) -> Int { Self.exponents[currency] ?? 2 }

  public static let header = ["kpi", "value", "previous", "change", "trend"]

  public static func rows(_ response: Tally_V1_GetKpisResponse) -> [[String]] {
    response.kpis.map { kpi in
      let trend = kpi.trend.map { $0.hasValue ? $0.value : nil }
      let finite = trend.compactMap { $0 }.filter(\.isFinite)
      let (low, high) = (finite.min() ?? 0, finite.max() ?? 0)
      // A flat trend sits in the middle, not on the floor.
      let range = low < high ? low...high : (low - 1)...(high + 1)
      return [
        kpi.name, Self.format(kpi.current, kpi.unit, response.currency),
        Self.format(kpi.previous, kpi.unit, response.currency), Self.change(kpi),
        TextChart.sparkline(trend, range: range),
      ]
    }
  }

  /// The dashboard's KPIs the filter left out, in one line (nil when none were).
  public static func leftOutNote(_ response: Tally_V1_GetKpisResponse) -> String? {
    guard !response.leftOut.isEmpty else { return nil }
    let reasons = Dictionary(grouping: response.leftOut, by: \.reason)
    let listed = reasons.keys.sorted().map { reason in
      "\(reasons[reason, default: []].map(\.name).joined(separator: ", ")) (\(reason))"
    }
    return "left out by the filter: " + listed.joined(separator: "; ")
  }

  /// `-o csv`: one row per KPI and period (the current one, the previous one, each bucket), with
  /// the numbers as the API gives them (a ratio as a fraction, money in the currency's minor
  /// units) and an empty cell where there is none, so a spreadsheet reads numbers, not text. The
  /// change against the previous period (and, for NPS, the margin it is judged against) is on the
  /// current period's row.
  public static let csvHeader = [
    "kpi", "unit", "currency", "period", "from", "to", "value", "numerator", "denominator", "margin_of_error",
    "change", "relative_change", "combined_margin", "change_beyond_margin",
  ]

  public static func csvRows(_ response: Tally_V1_GetKpisResponse) -> [[String]] {
    response.kpis.flatMap { kpi in
      let periods =
        [("current", kpi.current, response.from, response.to)]
        + [("previous", kpi.previous, response.previousFrom, response.previousTo)]
        + kpi.trend.map { ("bucket", $0, $0.from, $0.to) }
      return periods.map { period, point, from, to in
        [
          kpi.name, kpi.unit, response.currency, period, point.from.isEmpty ? from : point.from,
          point.to.isEmpty ? to : point.to, point.hasValue ? Self.plain(point.value) : "", Self.plain(point.numerator),
          point.hasDenominator ? Self.plain(point.denominator) : "",
          point.hasMarginOfError ? Self.plain(point.marginOfError) : "",
        ] + (period == "current" ? Self.changeCells(kpi) : ["", "", "", ""])
      }
    }
  }

  static func changeCells(_ kpi: Tally_V1_KpiValue) -> [String] {
    [
      kpi.hasChange ? Self.plain(kpi.change) : "", kpi.hasRelativeChange ? Self.plain(kpi.relativeChange) : "",
      kpi.hasCombinedMargin ? Self.plain(kpi.combinedMargin) : "",
      kpi.hasChangeBeyondMargin ? String(kpi.changeBeyondMargin) : "",
    ]
  }

  /// A number as a spreadsheet reads it: whole numbers (exact up to 2^53) without a decimal
  /// point, others in full.
  public static func plain(_ value: Double) -> String {
    if value.isFinite, value.rounded() == value, abs(value) <= 9_007_199_254_740_992 { return String(Int64(value)) }
    return "\(value)"
  }

  /// Money in minor units as a spreadsheet's number of major units: 125000 EUR cents is 1250.00.
  public static func plainMoney(_ minor: Double, _ currency: String) -> String {
    let digits = Self.minorDigits(currency)
    return String(format: "%.\(digits)f", minor / pow(10, Double(digits)))
  }

  /// A value in its unit: 12.5 %, 1,234, 96.3 min, 1,250.00 EUR, 42.5 days; "no data" without one.
  public static func format(_ point: Tally_V1_KpiPoint, _ unit: String, _ currency: String) -> String {
    guard point.hasValue else { return "no data" }
    return Self.format(point.value, unit, currency)
  }

  public static func format(_ value: Double, _ unit: String, _ currency: String) -> String {
    switch unit {
    case "ratio": return Self.number(value * 100, digits: 1) + " %"
    case "count": return Self.number(value, digits: value.rounded() == value ? 0 : 1)
    case "minutes": return Self.number(value, digits: 1) + " min"
    case "days": return Self.number(value, digits: 1) + " days"
    case "score": return Self.signed(value, digits: 1)
    case "money":
      let digits = Self.minorDigits(currency)
      return Self.number(value / pow(10, Double(digits)), digits: digits) + " " + currency
    default: return Self.number(value, digits: 2)
    }
  }

  /// ▲ or ▼ with the relative change, or the absolute one for ratios (in points); "-" without both
  /// values. A survey score's change is in points, against the margin of the two periods' samples.
  public static func change(_ kpi: Tally_V1_KpiValue) -> String {
    guard kpi.hasChange else { return "-" }
    let arrow = kpi.change > 0 ? "▲" : kpi.change < 0 ? "▼" : "="
    if kpi.unit == "ratio" { return "\(arrow) \(Self.signed(kpi.change * 100, digits: 1)) pts" }
    if kpi.hasCombinedMargin {
      let margin = "±\(Self.number(kpi.combinedMargin, digits: 1))"
      return
        "\(arrow) \(Self.signed(kpi.change, digits: 1)) pts (\(kpi.changeBeyondMargin ? "beyond" : "within") \(margin))"
    }
    guard kpi.hasRelativeChange else { return arrow }
    return "\(arrow) \(Self.signed(kpi.relativeChange * 100, digits: 1)) %"
  }

  /// `tally kpi explain`: the definition, the numerator and denominator with their values, the filters.
  public static func explanation(
    _ definition: Tally_V1_KpiDefinition, _ response: Tally_V1_GetKpisResponse, filters: [String]
  ) -> [String] {
    guard let kpi = response.kpis.first else { return [] }
    var lines = [
      "\(definition.name) (\(definition.family), \(definition.headline ? "headline" : "secondary") KPI)",
      definition.definition, "",
      "Period       \(response.from) up to \(response.to) (exclusive)",
      "Value        \(Self.format(kpi.current, kpi.unit, response.currency))",
    ]
    // A money KPI's numerator is money in minor units, a sum or what an average divides.
    let plain = { (value: Double) in Self.number(value, digits: value.rounded() == value ? 0 : 2) }
    let numerator =
      kpi.unit == "money"
      ? Self.format(kpi.current.numerator, "money", response.currency) : plain(kpi.current.numerator)
    lines.append("Numerator    \(numerator): \(definition.numerator)")
    if kpi.current.hasDenominator {
      lines.append("Denominator  \(plain(kpi.current.denominator)): \(definition.denominator)")
      if kpi.current.denominator == 0 { lines.append("             a denominator of 0 means no data, not 0") }
    }
    lines.append(
      "Previous     \(Self.format(kpi.previous, kpi.unit, response.currency)) (\(response.previousFrom) up to \(response.previousTo))"
    )
    lines.append("Change       \(Self.change(kpi))")
    lines.append("Filters      \(filters.isEmpty ? "none" : filters.joined(separator: ", "))")
    return lines
  }

  static func signed(_ value: Double, digits: Int) -> String {
    (value > 0 ? "+" : "") + Self.number(value, digits: digits)
  }

  /// Thousands separated by commas, `digits` decimals, whatever the machine's locale.
  static func number(_ value: Double, digits: Int) -> String {
    let text = String(format: "%.\(digits)f", abs(value))
    let parts = text.split(separator: ".", maxSplits: 1).map(String.init)
    var whole = ""
    for (index, character) in parts[0].reversed().enumerated() {
      if index > 0, index % 3 == 0 { whole.append(",") }
      whole.append(character)
    }
    let sign = value < 0 && Double(text) != 0 ? "-" : ""
    return sign + String(whole.reversed()) + (parts.count > 1 ? "." + parts[1] : "")
  }
}
