import Foundation
import SwiftProtobuf
public import TallyProto

/// `tally surveys results` as text: the score with its margin, the 0–10 distribution as bars,
/// the trend as a sparkline and a table, the per-question results, and why anything is hidden.
public enum SurveyReport {
  /// Width of the longest bar, in cells.
  static let barWidth = 40

  public static func lines(_ results: Tally_V1_SurveyResults, title: String) -> [String] {
    let kind = ["nps": "NPS", "enps": "eNPS", "pulse": "Pulse"][results.kind] ?? results.kind
    let privacy =
      results.anonymous
      ? "anonymous, shown from \(results.anonymityThreshold) responses"
      : results.anonymityThreshold > 0 ? "identified, shown from \(results.anonymityThreshold) responses" : "identified"
    var lines = ["\(kind) survey \"\(title)\" (\(privacy))", ""]
    lines += Self.overall(results.overall)
    lines += Self.change(results.change)
    if !results.overall.suppressed, results.overall.distribution.count == 11 {
      lines += ["", "Answers 0–10"] + Self.bars(results.overall.distribution.enumerated().map { ("\($0)", $1) })
    }
    lines += Self.trend(results.trend)
    // The score comes from the first nps question: its 0–10 bars are the ones above.
    let scoreQuestion = results.questions.first { $0.type == "nps" }?.questionID
    for question in results.questions {
      lines += Self.question(question, bars: question.questionID != scoreQuestion || results.overall.suppressed)
    }
    if !results.contactAnswers.isEmpty {
      lines += ["", "Latest answer per contact"]
      lines += TextTable.lines(
        [["contact", "score", "round"]]
          + results.contactAnswers.map { [$0.contactID, "\($0.score)", "\($0.roundNumber)"] })
    }
    if !results.notes.isEmpty { lines += [""] + results.notes.map { "Note: \($0)" } }
    return lines
  }

  static func overall(_ cell: Tally_V1_ResultCell) -> [String] {
    guard !cell.suppressed else { return ["Suppressed: \(cell.suppressedReason)"] }
    var lines: [String] = []
    if cell.hasScore {
      lines.append("Score     \(Self.signed(cell.score)) ± \(Self.fixed(cell.marginOfError, 1)) (95 % margin)")
    }
    var responses = "Responses \(cell.responses)"
    if cell.hasResponseRate {
      responses += " of \(cell.invitations) invited (\(Self.fixed(cell.responseRate * 100, 0)) %)"
    }
    lines.append(responses)
    if cell.hasScore {
      lines.append(
        "Promoters \(cell.promoters) (\(Self.percent(cell.promoterShare))) · "
          + "passives \(cell.passives) (\(Self.percent(cell.passiveShare))) · "
          + "detractors \(cell.detractors) (\(Self.percent(cell.detractorShare)))")
    }
    return lines
  }

  static func change(_ change: Tally_V1_ScoreChange) -> [String] {
    guard change.available else { return change.reason.isEmpty ? [] : ["Change    none: \(change.reason)"] }
    let arrow = change.change > 0 ? "▲" : change.change < 0 ? "▼" : "="
    let verdict = change.beyondMargin ? "beyond" : "within"
    return [
      "Change    \(arrow) \(Self.signed(change.change)) in round \(change.roundNumber) against round "
        + "\(change.previousRoundNumber), \(verdict) the ± \(Self.fixed(change.combinedMargin, 1)) margin"
    ]
  }

  static func trend(_ rounds: [Tally_V1_RoundResult]) -> [String] {
    guard !rounds.isEmpty else { return ["", "No rounds in this selection."] }
    let scores = rounds.map { $0.cell.hasScore && !$0.cell.suppressed ? $0.cell.score : nil }
    let lines = ["", "Trend     \(TextChart.sparkline(scores, range: -100...100))  (−100 to 100; · = suppressed)"]
    let rows = rounds.map { round -> [String] in
      let opened = Self.day(round.opensAt)
      guard !round.cell.suppressed else {
        return ["\(round.number)", opened, "suppressed: \(round.cell.suppressedReason)"]
      }
      let score = round.cell.hasScore ? Self.signed(round.cell.score) : "-"
      let margin = round.cell.hasScore ? "± \(Self.fixed(round.cell.marginOfError, 1))" : ""
      return ["\(round.number)", opened, "\(round.cell.responses)", score, margin]
    }
    return lines + TextTable.lines([["round", "opened", "responses", "score", "margin"]] + rows)
  }

  /// The trend as rows for `-o csv`: one per round, every column filled; a suppressed round has
  /// empty numbers and its reason.
  public static func trendRows(_ results: Tally_V1_SurveyResults) -> [[String]] {
    [["round", "opened", "responses", "score", "margin_of_error", "suppressed"]]
      + results.trend.map { round in
        let cell = round.cell
        let shown = !cell.suppressed
        return [
          "\(round.number)", Self.day(round.opensAt), shown ? "\(cell.responses)" : "",
          shown && cell.hasScore ? Self.fixed(cell.score, 1) : "",
          shown && cell.hasScore ? Self.fixed(cell.marginOfError, 1) : "",
          cell.suppressed ? cell.suppressedReason : "",
        ]
      }
  }

  static func question(_ question: Tally_V1_QuestionResult, bars: Bool) -> [String] {
    var lines = ["", "\(question.questionID) (\(question.type)): \(question.text)"]
    guard !question.suppressed else { return lines + ["  suppressed: \(question.suppressedReason)"] }
    var summary = "  \(question.answers) answers"
    if question.hasAverage { summary += ", average \(Self.fixed(question.average, 2))" }
    lines.append(summary)
    return bars ? lines + Self.bars(question.distribution.map { ($0.value, $0.count) }) : lines
  }

  /// One bar per value, labels right-aligned, scaled to the largest count.
  static func bars(_ counts: [(label: String, count: UInt64)]) -> [String] {
    let labelWidth = counts.map { TextTable.displayWidth($0.label) }.max() ?? 0
    let maximum = counts.map(\.count).max() ?? 0
    return counts.map { label, count in
      let padded = TextTable.padding(labelWidth - TextTable.displayWidth(label)) + label
      return "  \(padded) │\(TextChart.bar(count, maximum: maximum, width: Self.barWidth)) \(count)"
    }
  }

  static func signed(_ value: Double) -> String { (value > 0 ? "+" : "") + Self.fixed(value, 1) }

  static func percent(_ share: Double) -> String { "\(Self.fixed(share * 100, 0)) %" }

  static func fixed(_ value: Double, _ digits: Int) -> String {
    let text = String(format: "%.\(digits)f", value)
    // -0.0 rounds to "-0.0"; a score of nothing is not negative.
    return Double(text) == 0 ? String(format: "%.\(digits)f", 0.0) : text
  }

  /// The day a round opened, e.g. `2026-11-23`.
  static func day(_ timestamp: Google_Protobuf_Timestamp) -> String {
    timestamp.seconds == 0 ? "-" : ISODay.string(timestamp.date)
  }
}
