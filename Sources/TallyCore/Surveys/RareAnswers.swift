import TallyProto

/// An anonymous export's rows keep every answer of a respondent together, so an answer only a few
/// gave (the one "less than a year" of a team, a yes to "Do you manage people?") would point at
/// them and carry their score and comment along. A choice or yes/no question with an answer given
/// by fewer than the threshold's respondents of a group the rows show (a segment a row is
/// labelled with, or the unlabelled rows together) is left out of the round's every row, so that
/// its absence singles out no one either; each row names what it left out.
enum RareAnswers {
  static func withhold(from rows: inout [Tally_V1_ExportedResponse], _ questions: [SurveyQuestion], threshold: Int) {
    guard threshold > 0 else { return }
    var withheld: [String] = []
    for question in questions where ["single_choice", "multi_choice", "yes_no"].contains(question.type) {
      // By the stored bytes (choices are stored as the survey spells them), per exported label.
      var counts: [[ExactID]: Int] = [:]
      for row in rows {
        guard let answer = row.answers.first(where: { $0.questionID == question.id }) else { continue }
        let label = [row.segment.department, row.segment.team, row.segment.location, row.hasTier ? "\(row.tier)" : ""]
          .map { ExactID($0) }
        let values = question.type == "yes_no" ? [answer.yes ? "yes" : "no"] : answer.choices.values
        for value in values { counts[label + [ExactID(value)], default: 0] += 1 }
      }
      if counts.values.contains(where: { $0 < threshold }) { withheld.append(question.id) }
    }
    guard !withheld.isEmpty else { return }
    for index in rows.indices {
      rows[index].answers.removeAll { withheld.contains($0.questionID) }
      rows[index].withheldQuestionIds = withheld
    }
  }
}
