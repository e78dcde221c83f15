import ArgumentParser
import Foundation
import SwiftProtobuf
import TallyClient
import TallyProto
import TallyWire

/// Which rounds a results, comments or export command looks at.
struct SurveyRoundOptions: ParsableArguments {
  @Option(help: "One round, by id.") var round: String?
  @Option(help: "The first round number of a range (default: the first round).") var from: UInt32?
  @Option(help: "The last round number of a range (default: the latest round).") var to: UInt32?

  var selection: Tally_V1_RoundSelection {
    var rounds = Tally_V1_RoundSelection()
    rounds.roundID = self.round ?? ""
    rounds.fromRound = self.from ?? 0
    rounds.toRound = self.to ?? 0
    return rounds
  }
}

/// Which rounds and which respondents a results or comments command looks at.
struct SurveySelectionOptions: ParsableArguments {
  @OptionGroup var roundOptions: SurveyRoundOptions
  @Option(help: "Only these departments (repeatable).") var department: [String] = []
  @Option(help: "Only these teams (repeatable).") var team: [String] = []
  @Option(help: "Only these locations (repeatable).") var location: [String] = []
  @Option(help: "Only these account tiers, 0–3 (repeatable).") var tier: [UInt32] = []
  @Option(help: "Identified NPS surveys: one account's NPS, from the latest answer of each contact.")
  var account: String?

  var rounds: Tally_V1_RoundSelection { self.roundOptions.selection }

  var filter: Tally_V1_SegmentFilter {
    var filter = Tally_V1_SegmentFilter()
    filter.departments = self.department
    filter.teams = self.team
    filter.locations = self.location
    filter.tiers = self.tier
    filter.accountID = self.account ?? ""
    return filter
  }
}

/// `tally surveys results`.
struct SurveyResultsCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "results",
    abstract: "Score, margin, 0–10 distribution, trend and per-question results of a survey (-o csv: the trend).",
    discussion: "Anything from fewer respondents than the survey's threshold is shown as suppressed, with why."
  )
  @OptionGroup var connection: ConnectionOptions
  @OptionGroup var selection: SurveySelectionOptions
  @Argument(help: "The survey id.") var surveyID: String

  func run() async throws {
    var request = Tally_V1_GetResultsRequest()
    request.surveyID = self.surveyID
    request.rounds = self.selection.rounds
    request.filter = self.selection.filter
    let (survey, results) = try await self.connection.withClient { session in
      var get = Tally_V1_GetSurveyRequest()
      get.id = self.surveyID
      let survey = try await session.client.unary(SurveyMethods.getSurvey, get, options: session.options)
      return (survey, try await session.client.unary(SurveyMethods.getResults, request, options: session.options))
    }
    switch self.connection.output {
    case .json: try Output.printMessages([results])
    case .csv: Output.printTable(SurveyReport.trendRows(results))
    case .table: for line in SurveyReport.lines(results, title: survey.title) { print(line) }
    }
  }
}

/// `tally surveys comments`.
struct SurveyCommentsCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "comments",
    abstract: "The text answers of a survey (in a random order when it is anonymous)."
  )
  @OptionGroup var connection: ConnectionOptions
  @OptionGroup var selection: SurveySelectionOptions
  @Argument(help: "The survey id.") var surveyID: String
  @Option(help: "One text question, by id. Default: every text question.") var question: String?

  func run() async throws {
    var request = Tally_V1_ListCommentsRequest()
    request.surveyID = self.surveyID
    request.rounds = self.selection.rounds
    request.filter = self.selection.filter
    request.questionID = self.question ?? ""
    request.pageSize = 500
    let (comments, notes, suppressed) = try await self.connection.withClient {
      session -> ([Tally_V1_Comment], [String], String?) in
      var request = request
      var comments: [Tally_V1_Comment] = []
      var notes: [String] = []
      repeat {
        let page = try await session.client.unary(SurveyMethods.listComments, request, options: session.options)
        if page.suppressed { return ([], page.notes, page.suppressedReason) }
        if request.pageToken.isEmpty { notes = page.notes }  // every page repeats them
        comments += page.comments
        request.pageToken = page.nextPageToken
      } while !request.pageToken.isEmpty
      return (comments, notes, nil)
    }
    // On stderr, so that a JSON or CSV listing stays one document.
    for note in notes { Output.printError("note: \(note)") }
    if let suppressed {
      Output.printError("suppressed: \(suppressed)")
      if self.connection.output == .json { print("[]") }
      return
    }
    guard self.connection.output != .json else { return try Output.printMessageArray(comments) }
    let identified = comments.contains { !$0.contactID.isEmpty }
    let header = ["round", "question"] + (identified ? ["contact", "score"] : []) + ["comment"]
    Output.printTable(
      [header]
        + comments.map { comment in
          let who = identified ? [comment.contactID, comment.hasScore ? "\(comment.score)" : Output.missing] : []
          return ["\(comment.roundNumber)", comment.questionID] + who + [comment.text]
        })
  }
}

/// `tally surveys export`.
struct SurveyExportCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "export",
    abstract: "Every response of a survey, one JSON object per line (anonymous surveys: shuffled, no identity).",
    discussion: """
      Responses are read as fast as the server sends them and printed as fast as stdout takes them: \
      with a pager left open, what was not printed yet waits in this command's memory (the server \
      would close a connection left unread for 60 s). Write a large export to a file.
      """
  )
  @OptionGroup var connection: ConnectionOptions
  @Argument(help: "The survey id.") var surveyID: String
  @OptionGroup var rounds: SurveyRoundOptions

  func run() async throws {
    var request = Tally_V1_ExportResponsesRequest()
    request.surveyID = self.surveyID
    request.rounds = self.rounds.selection
    // Read at the network's pace, printed at stdout's: a pager left open would otherwise hold
    // the stream back until the server closed the connection (its 60 s write stall).
    let (lines, printQueue) = AsyncStream<String>.makeStream()
    let printer = Task {
      var count = 0
      for await line in lines {
        print(line)
        count += 1
      }
      return count
    }
    let streamed: Result<Void, any Error>
    do {
      try await self.connection.withClient { session in
        try await session.client.serverStreaming(SurveyMethods.exportResponses, request, options: session.options) {
          responses in
          for try await response in responses { printQueue.yield(try response.jsonString(options: Output.protoJSON)) }
        }
      }
      streamed = .success(())
    } catch {
      streamed = .failure(error)
    }
    // What arrived is printed either way, then the call's error, if any, ends the command.
    printQueue.finish()
    let printed = await printer.value
    try streamed.get()
    Output.printError("\(printed) responses exported")
  }
}

/// `tally surveys answer TOKEN`: the survey in the terminal, a question at a time.
struct SurveyAnswerCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "answer",
    abstract: "Answer a survey with its token, question by question (a collect key is enough)."
  )
  @OptionGroup var connection: ConnectionOptions
  @Argument(help: "The token from the invitation (tlys_…).") var token: String

  func run() async throws {
    try await self.connection.withClient { session in
      var get = Tally_V1_GetSurveyForTokenRequest()
      get.token = self.token
      let survey = try await session.client.unary(SurveyMethods.getSurveyForToken, get, options: session.options)
      print("\(survey.title) (round \(survey.roundNumber))")
      if survey.anonymous { print("Your answers are anonymous: nothing stored links them to you or your token.") }
      var answers: [Tally_V1_Answer] = []
      for question in survey.questions {
        print("")
        guard let answer = try Self.ask(question) else { continue }
        answers.append(answer)
      }
      var submit = Tally_V1_SubmitResponseRequest()
      submit.token = self.token
      submit.answers = answers
      _ = try await session.client.unary(SurveyMethods.submitResponse, submit, options: session.options)
      print("\nThank you: your answers are in.")
    }
  }

  /// Asks until the answer is one the question takes; nil when skipped.
  static func ask(_ question: Tally_V1_Question) throws -> Tally_V1_Answer? {
    print(AnswerInput.prompt(for: question))
    while true {
      print("> ", terminator: "")
      guard let line = readLine() else {
        throw ValidationError("the input ended before every question was answered; nothing was sent")
      }
      do {
        return try AnswerInput.parse(line, for: question)
      } catch {
        print("  \(error.description); try again")
      }
    }
  }
}
