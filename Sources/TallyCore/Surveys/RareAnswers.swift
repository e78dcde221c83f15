import TallyProto

/// An anonymous export's rows keep every answer of a respondent together, so an answer only a few
/// gave (the one "less than a year" of a team, a yes to "Do you manage people?") would point at
/// them and carry their score and comment along. A choice or yes/no question with an answer given
/// by fewer than the threshold's respondents of a block (`AnonymityGuard`) is left out of the
/// round's every row, so that its absence singles out no one either; each row names what it left
/// out. Per block, not per label the rows show: filtered comments and results show whole blocks,
/// and their texts tell which unlabelled rows are a block's. A multiple choice is judged by the
/// whole sets chosen, which a row shows: leaving a choice out is as telling as picking it.
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
      var counts: [Int: [String: UInt64]] = [:]
      for (segment, answers) in round.answers {
        guard let values = answers[question] else { continue }
        let block = guardian.block(of: segment) ?? -1
        for (value, count) in values where value != SurveyResultsBuilder.RoundData.answeredMarker {
          counts[block, default: [:]][value, default: 0] += count
        }
      }
      return counts.values.contains { $0.values.contains { $0 < UInt64(threshold) } }
    }
  }
}
