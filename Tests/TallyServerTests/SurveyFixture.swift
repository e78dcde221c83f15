import Foundation
import SwiftProtobuf
import TallyClient
import TallyProto
import TallyWire

/// Builders for survey tests: surveys, rounds, tokens and answers.
enum SurveyFixture {
  static func survey(_ kind: String, title: String = "Survey", anonymous: Bool = false) -> Tally_V1_CreateSurveyRequest
  {
    var request = Tally_V1_CreateSurveyRequest()
    request.survey.kind = kind
    request.survey.title = title
    request.survey.anonymous = anonymous
    return request
  }

  static func question(_ id: String, _ type: String, required: Bool = false, choices: [String] = [])
    -> Tally_V1_Question
  {
    var question = Tally_V1_Question()
    question.id = id
    question.type = type
    question.text = "Question \(id)?"
    question.required = required
    question.choices = choices
    return question
  }

  static func pulse(period: String = "weekly", openDay: UInt32 = 1, openDays: UInt32 = 5)
    -> Tally_V1_CreateSurveyRequest
  {
    var request = Self.survey("pulse", title: "Pulse")
    request.survey.questions = [
      Self.question("mood", "nps", required: true), Self.question("tools", "rating", required: true),
      Self.question("focus", "multi_choice", required: true, choices: ["meetings", "code", "docs"]),
      Self.question("remote", "yes_no", required: true), Self.question("why", "text"),
    ]
    request.survey.cadence.period = period
    request.survey.cadence.openDay = openDay
    request.survey.cadence.openDays = openDays
    return request
  }

  static func openRound(_ client: TallyClient, _ surveyID: String) async throws -> Tally_V1_Round {
    var request = Tally_V1_OpenRoundRequest()
    request.surveyID = surveyID
    return try await client.unary(SurveyMethods.openRound, request)
  }

  static func closeRound(_ client: TallyClient, _ roundID: String) async throws {
    var request = Tally_V1_CloseRoundRequest()
    request.roundID = roundID
    _ = try await client.unary(SurveyMethods.closeRound, request)
  }

  /// `count` tokens of one segment.
  static func tokens(
    _ client: TallyClient, _ roundID: String, _ count: UInt32, team: String = "", department: String = ""
  ) async throws -> [String] {
    var request = Tally_V1_IssueInvitationsRequest()
    request.roundID = roundID
    request.count = count
    request.segment.team = team
    request.segment.department = department
    return try await client.unary(SurveyMethods.issueInvitations, request).invitations.map(\.token)
  }

  static func contactTokens(_ client: TallyClient, _ roundID: String, _ contacts: [String]) async throws -> [String:
    String]
  {
    var request = Tally_V1_IssueInvitationsRequest()
    request.roundID = roundID
    request.invitees = contacts.map {
      var invitee = Tally_V1_Invitee()
      invitee.contactID = $0
      return invitee
    }
    let invitations = try await client.unary(SurveyMethods.issueInvitations, request).invitations
    return Dictionary(uniqueKeysWithValues: invitations.map { ($0.contactID, $0.token) })
  }

  static func number(_ questionID: String, _ value: Int32) -> Tally_V1_Answer {
    var answer = Tally_V1_Answer()
    answer.questionID = questionID
    answer.number = value
    return answer
  }

  static func text(_ questionID: String, _ value: String) -> Tally_V1_Answer {
    var answer = Tally_V1_Answer()
    answer.questionID = questionID
    answer.text = value
    return answer
  }

  static func yes(_ questionID: String, _ value: Bool) -> Tally_V1_Answer {
    var answer = Tally_V1_Answer()
    answer.questionID = questionID
    answer.yes = value
    return answer
  }

  static func choices(_ questionID: String, _ values: [String]) -> Tally_V1_Answer {
    var answer = Tally_V1_Answer()
    answer.questionID = questionID
    var choices = Tally_V1_Choices()
    choices.values = values
    answer.choices = choices
    return answer
  }

  @discardableResult
  static func submit(_ client: TallyClient, _ token: String, _ answers: [Tally_V1_Answer]) async throws
    -> Tally_V1_SubmitResponseResponse
  {
    var request = Tally_V1_SubmitResponseRequest()
    request.token = token
    request.answers = answers
    return try await client.unary(SurveyMethods.submitResponse, request)
  }

  static func results(
    _ client: TallyClient, _ surveyID: String, round: String = "", from: UInt32 = 0, to: UInt32 = 0,
    teams: [String] = [], account: String = ""
  ) async throws -> Tally_V1_SurveyResults {
    var request = Tally_V1_GetResultsRequest()
    request.surveyID = surveyID
    request.rounds.roundID = round
    request.rounds.fromRound = from
    request.rounds.toRound = to
    request.filter.teams = teams
    request.filter.accountID = account
    return try await client.unary(SurveyMethods.getResults, request)
  }
}
