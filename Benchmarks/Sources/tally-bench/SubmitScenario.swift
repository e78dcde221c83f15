import ArgumentParser
import BenchKit
import Foundation
import Synchronization
import TallyClient
import TallyProto
import TallyWire

/// `tally-bench submit`: SubmitResponse of an anonymous eNPS survey (a score and, one time in
/// four, a comment), each call with its own single-use token issued before the clock starts.
struct SubmitScenario: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "submit", abstract: "SubmitResponse to an anonymous eNPS survey (answers/s).")
  @OptionGroup var options: BenchOptions
  @Option(help: "Tokens issued before the run; a run that uses them all fails.") var tokens = 100_000

  func validate() throws {
    guard (1...10_000_000).contains(self.tokens) else { throw ValidationError("--tokens must be 1 to 10000000") }
  }

  func run() async throws {
    let setup = try TallyClient(configuration: try self.options.configuration(clientName: "tally-bench setup"))
    let tokens = try await Self.issueTokens(self.tokens, setup)
    await setup.close()
    let next = SharedCounter()
    try await Scenario.run("submit", unit: "answers", self.options) { client in
      let index = next.take(1)
      guard index < UInt64(tokens.count) else { throw LoadExhausted("out of tokens: pass a larger --tokens") }
      var request = Tally_V1_SubmitResponseRequest()
      request.token = tokens[Int(index)]
      var score = Tally_V1_Answer()
      score.questionID = "score"
      score.number = Int32(EventGenerator.mix(index) % 11)
      request.answers = [score]
      if index % 4 == 0 {
        var comment = Tally_V1_Answer()
        comment.questionID = "why"
        comment.text = "Answer \(index): the team is great, the tools less so."
        request.answers.append(comment)
      }
      _ = try await client.unary(SurveyMethods.submitResponse, request)
      return 1
    }
  }

  /// A new eNPS survey, an open round and `count` anonymous tokens over five departments.
  static func issueTokens(_ count: Int, _ client: TallyClient) async throws -> [String] {
    var survey = Tally_V1_Survey()
    survey.kind = "enps"
    survey.title = "tally-bench eNPS \(UInt32.random(in: .min ... .max))"
    var score = Tally_V1_Question()
    score.id = "score"
    score.type = "nps"
    score.text = "How likely are you to recommend working here to a friend?"
    score.required = true
    var why = Tally_V1_Question()
    why.id = "why"
    why.type = "text"
    why.text = "Why?"
    survey.questions = [score, why]
    var create = Tally_V1_CreateSurveyRequest()
    create.survey = survey
    let created = try await client.unary(SurveyMethods.createSurvey, create)
    var open = Tally_V1_OpenRoundRequest()
    open.surveyID = created.id
    let round = try await client.unary(SurveyMethods.openRound, open)
    var tokens: [String] = []
    tokens.reserveCapacity(count)
    while tokens.count < count {
      var issue = Tally_V1_IssueInvitationsRequest()
      issue.roundID = round.id
      issue.count = UInt32(min(10_000, count - tokens.count))
      issue.segment.department = "dept-\(tokens.count / 10_000 % 5)"
      tokens += try await client.unary(SurveyMethods.issueInvitations, issue).invitations.map(\.token)
    }
    return tokens
  }
}
