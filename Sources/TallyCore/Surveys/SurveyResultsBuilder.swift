import Foundation
import TallyProto

/// Turns per-round, per-segment counts into GetResults' answer, suppressing what the anonymity
/// rules forbid. Pure: the SQL that gathers the counts is in SurveyResults.swift.
struct SurveyResultsBuilder {
  struct RoundData {
    var id: String
    var number: Int
    var opensAt: Int64
    var open: Bool
    var selected: Bool
    /// Responses per segment (with or without a score).
    var responses: [SegmentKey: UInt64] = [:]
    /// Score distributions per segment.
    var scores: [SegmentKey: NPSScore] = [:]
    var invitations: [SegmentKey: UInt64] = [:]
    /// Per segment and question: value → count, `answeredMarker` → how many answered the question,
    /// and for a multiple choice `setMarker` + the chosen set (its JSON) → how many chose exactly it.
    var answers: [SegmentKey: [String: [String: UInt64]]] = [:]
    /// A value no answer can have (choices refuse control characters), so a choice spelled like
    /// the marker is not counted as answers.
    static let answeredMarker = "\u{1}"
    /// Starts the key of a multiple choice's whole set, which an export row shows (RareAnswers).
    static let setMarker = "\u{2}"
  }

  let survey: StoredSurvey
  /// Every round of the survey, by number.
  let rounds: [RoundData]
  let filter: SegmentFilterSpec

  var hasScore: Bool { self.survey.questions.contains { $0.type == "nps" } }

  /// The segments of `round` the filter may show, or why not.
  func verdict(_ round: RoundData) -> AnonymityGuard.Verdict {
    if self.survey.anonymous, round.open {
      return .suppressed("round \(round.number) is still open: anonymous results appear when it closes")
    }
    return AnonymityGuard(invitations: round.invitations, responses: round.responses, threshold: self.survey.threshold)
      .verdict(for: self.filter)
  }

  func build() -> Tally_V1_SurveyResults {
    var results = Tally_V1_SurveyResults()
    results.kind = self.survey.kind
    results.anonymous = self.survey.anonymous
    results.anonymityThreshold = UInt32(self.survey.threshold)
    var shown: [(round: RoundData, segments: Set<SegmentKey>)] = []
    var lastReason = "no round is selected"
    for round in self.rounds where round.selected {
      var entry = Tally_V1_RoundResult()
      entry.roundID = round.id
      entry.number = UInt32(round.number)
      entry.opensAt = Micros.timestamp(round.opensAt)
      switch self.verdict(round) {
      case .shown(let segments):
        entry.cell = self.cell([(round, segments)])
        shown.append((round, segments))
      case .suppressed(let reason):
        entry.cell = Self.suppressed(reason)
        results.notes.append(Self.leftOut(round, reason))
        lastReason = reason
      }
      results.trend.append(entry)
    }
    if shown.isEmpty, self.survey.threshold > 0 {
      results.overall = Self.suppressed(lastReason)
    } else {
      results.overall = self.cell(shown)
    }
    results.change = self.change(shown.last)
    results.questions = self.survey.questions.filter { $0.type != "text" }.map { question in
      self.questionResult(question, shown, suppressedBecause: results.overall.suppressed ? lastReason : nil)
    }
    return results
  }

  /// The pooled result of some rounds' shown segments.
  func cell(_ parts: [(round: RoundData, segments: Set<SegmentKey>)]) -> Tally_V1_ResultCell {
    var score = NPSScore.empty
    var responses: UInt64 = 0
    var invitations: UInt64 = 0
    for (round, segments) in parts {
      for segment in segments {
        responses += round.responses[segment, default: 0]
        score = score + round.scores[segment, default: .empty]
      }
      for (segment, count) in round.invitations where self.filter.matches(segment) { invitations += count }
    }
    return Self.cell(score: score, responses: responses, invitations: invitations, hasScore: self.hasScore)
  }

  static func cell(score: NPSScore, responses: UInt64, invitations: UInt64, hasScore: Bool) -> Tally_V1_ResultCell {
    var cell = Tally_V1_ResultCell()
    cell.responses = responses
    cell.invitations = invitations
    if invitations > 0 { cell.responseRate = Double(responses) / Double(invitations) }
    guard hasScore else { return cell }
    if let value = score.score { cell.score = value }
    cell.promoters = score.promoters
    cell.passives = score.passives
    cell.detractors = score.detractors
    cell.promoterShare = score.promoterShare
    cell.passiveShare = score.passiveShare
    cell.detractorShare = score.detractorShare
    if let margin = score.marginOfError { cell.marginOfError = margin }
    cell.distribution = score.distribution
    return cell
  }

  /// A note naming a selected round whose numbers or comments an answer leaves out, and why.
  static func leftOut(_ round: RoundData, _ reason: String) -> String { "round \(round.number) left out: \(reason)" }

  static func suppressed(_ reason: String) -> Tally_V1_ResultCell {
    var cell = Tally_V1_ResultCell()
    cell.suppressed = true
    cell.suppressedReason = reason
    return cell
  }

  /// The last shown round against the shown round before it (selected or not).
  func change(_ last: (round: RoundData, segments: Set<SegmentKey>)?) -> Tally_V1_ScoreChange {
    var change = Tally_V1_ScoreChange()
    guard self.hasScore else {
      change.reason = "the survey has no nps question"
      return change
    }
    guard let last else {
      change.reason = "no round of the selection can be shown"
      return change
    }
    change.roundNumber = UInt32(last.round.number)
    let earlier = self.rounds.filter { $0.number < last.round.number }.reversed()
    guard
      let previous = earlier.lazy.compactMap({ round -> (RoundData, Set<SegmentKey>)? in
        if case .shown(let segments) = self.verdict(round) { return (round, segments) }
        return nil
      }).first
    else {
      change.reason = "no earlier round can be shown"
      return change
    }
    change.previousRoundNumber = UInt32(previous.0.number)
    let now = last.segments.reduce(NPSScore.empty) { $0 + last.round.scores[$1, default: .empty] }
    let before = previous.1.reduce(NPSScore.empty) { $0 + previous.0.scores[$1, default: .empty] }
    guard let difference = NPSChange(current: now, previous: before) else {
      change.reason = "one of the two rounds has no scores"
      return change
    }
    change.available = true
    change.score = now.score ?? 0
    change.previousScore = before.score ?? 0
    change.change = difference.change
    change.combinedMargin = difference.combinedMargin
    change.beyondMargin = difference.beyondMargin
    return change
  }

  func questionResult(
    _ question: SurveyQuestion, _ parts: [(round: RoundData, segments: Set<SegmentKey>)], suppressedBecause: String?
  ) -> Tally_V1_QuestionResult {
    var result = Tally_V1_QuestionResult()
    result.questionID = question.id
    result.type = question.type
    result.text = question.text
    if let suppressedBecause {
      result.suppressed = true
      result.suppressedReason = suppressedBecause
      return result
    }
    // An anonymous survey may hold an optional scored question only if it was stored before they had
    // to be required (or by hand): its answers come from some of the respondents, which the blocks
    // cannot protect (SurveyDefinition.checkRequired), so none of them is shown.
    if self.survey.anonymous, !question.required, question.type != "text" {
      result.suppressed = true
      result.suppressedReason =
        "an optional question of an anonymous survey: its answers come from some of the respondents only, "
        + "which the anonymity threshold cannot protect"
      return result
    }
    var counts: [String: UInt64] = [:]
    for (round, segments) in parts {
      for segment in segments {
        for (value, count) in round.answers[segment]?[question.id] ?? [:] { counts[value, default: 0] += count }
      }
    }
    let answered = counts[RoundData.answeredMarker, default: 0]
    if self.survey.threshold > 0, answered < UInt64(self.survey.threshold) {
      result.suppressed = true
      result.suppressedReason = "fewer than \(self.survey.threshold) answers to this question (the anonymity threshold)"
      return result
    }
    result.answers = answered
    var total = 0.0
    for value in question.possibleValues {
      var entry = Tally_V1_ValueCount()
      entry.value = value
      entry.count = counts[value, default: 0]
      entry.share = answered == 0 ? 0 : Double(entry.count) / Double(answered)
      total += (Double(value) ?? 0) * Double(entry.count)
      result.distribution.append(entry)
    }
    if question.type == "nps" || question.type == "rating", answered > 0 { result.average = total / Double(answered) }
    return result
  }
}
