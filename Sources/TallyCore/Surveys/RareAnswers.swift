import TallyProto

/// An anonymous export's rows keep every answer of a respondent together, so an answer only a few
/// gave (the one "less than a year" of a team, a yes to "Do you manage people?") would point at
/// them and carry their score and comment along. A choice or yes/no question with an answer given
/// by fewer than the threshold's respondents of a group the rows show (a segment a row is
/// labelled with, or the unlabelled rows together) is left out of the round's every row, so that
/// its absence singles out no one either; each row names what it left out.
/// Counted from the round's answers per segment (GetResults' counts), so an export of any size
/// decides before its first row.
enum RareAnswers {
  static func withheld(
    _ round: SurveyResultsBuilder.RoundData, _ questions: [SurveyQuestion], shownBy guardian: AnonymityGuard,
    threshold: Int
  ) -> [String] {
    guard threshold > 0 else { return [] }
    return questions.filter { ["single_choice", "multi_choice", "yes_no"].contains($0.type) }.map(\.id).filter {
      question in
      // Per label a row shows: its segment when shown, else the one blank label of every other row.
      var counts: [SegmentKey: [String: UInt64]] = [:]
      for (segment, answers) in round.answers {
        guard let values = answers[question] else { continue }
        let label = guardian.segmentShown(segment) ? segment : SegmentKey()
        for (value, count) in values where value != SurveyResultsBuilder.RoundData.answeredMarker {
          counts[label, default: [:]][value, default: 0] += count
        }
      }
      return counts.values.contains { $0.values.contains { $0 < UInt64(threshold) } }
    }
  }
}
