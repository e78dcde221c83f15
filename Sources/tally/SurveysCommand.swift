import ArgumentParser
import Foundation
import SwiftProtobuf
import TallyClient
import TallyProto
import TallyWire

/// `tally surveys`: NPS, eNPS and pulse surveys, their rounds, invitations, results and answers.
struct Surveys: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Create surveys, run their rounds, hand out tokens, and read the results.",
    discussion: """
      A typical round: tally surveys create --kind enps --title "Q4 eNPS"; tally surveys open-round SURVEY; \
      tally surveys invite ROUND --count 40 --team core (mail the tokens); tally surveys close-round ROUND; \
      tally surveys results SURVEY.
      """,
    subcommands: [
      Create.self, List.self, Get.self, Archive.self, OpenRound.self, CloseRound.self, Rounds.self, Invite.self,
      SurveyResultsCommand.self, SurveyCommentsCommand.self, SurveyExportCommand.self, SurveyAnswerCommand.self,
    ]
  )

  static func show(_ surveys: [Tally_V1_Survey], _ format: OutputFormat, list: Bool) throws {
    guard format != .json else {
      return try list ? Output.printMessageArray(surveys) : Output.printMessages(surveys)
    }
    let row = { (survey: Tally_V1_Survey, privacy: [String]) in
      [survey.id, survey.kind] + privacy + [
        survey.hasCadence ? survey.cadence.period : Output.missing, "\(survey.roundCount)", "\(survey.responseCount)",
        survey.archived ? "archived" : "active", survey.title,
      ]
    }
    let header = { (privacy: [String]) in
      ["id", "kind"] + privacy + ["cadence", "rounds", "responses", "state", "title"]
    }
    // CSV: whether answers are anonymous, and the threshold as a number (empty for identified surveys).
    Output.printTable(
      [header(["privacy"])]
        + surveys.map { row($0, [$0.anonymous ? "anonymous (\($0.anonymityThreshold))" : "identified"]) },
      csv: [header(["anonymous", "anonymity_threshold"])]
        + surveys.map { row($0, [$0.anonymous ? "true" : "false", $0.anonymous ? "\($0.anonymityThreshold)" : ""]) })
  }

  static func show(_ rounds: [Tally_V1_Round], _ format: OutputFormat) throws {
    guard format != .json else { return try Output.printMessageArray(rounds) }
    // CSV: an empty cell where the table says a round has no closing time or its count is withheld.
    let rows = rounds.map { round in
      [
        "\(round.number)", round.id, round.status, Output.time(round.opensAt),
        round.hasClosesAt ? Output.time(round.closesAt) : (Output.isCSV ? "" : "until closed"),
        round.scheduled ? "cadence" : "by hand", "\(round.invitations)",
        round.responsesWithheld ? (Output.isCSV ? "" : "withheld") : "\(round.responses)",
      ]
    }
    Output.printTable([["round", "id", "status", "opens", "closes", "opened", "invited", "responses"]] + rows)
  }

  struct Create: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Create a survey.",
      discussion: """
        NPS and eNPS surveys get a 0–10 \"score\" question and a \"reason\" text question unless --question is \
        given. A question is TYPE:TEXT, TYPE!:TEXT when required, and TYPE:TEXT:CHOICE|CHOICE|… for \
        single_choice and multi_choice (a text may hold colons; in a choice question write \\: for them, the choices may hold colons); types: nps, rating, single_choice, multi_choice, yes_no, text. \
        An NPS or eNPS survey asks one nps question and at most one text question; pulse surveys take any type. \
        In an anonymous survey (eNPS, pulse, or --anonymous) every question but text must be required. \
        Example: --question 'nps!:How likely are you to recommend us?' --question 'text:Why?'
        """
    )
    @OptionGroup var connection: ConnectionOptions
    @Option(help: "nps (customers), enps (employees) or pulse (employees, on a cadence).") var kind: String
    @Option(help: "The title respondents see.") var title: String
    @Option(help: "A question (repeatable; see above).") var question: [String] = []
    @Flag(help: "Make an NPS survey anonymous (eNPS and pulse always are).") var anonymous = false
    @Option(help: "Fewest responses a result is shown for: 3 to 1000 (default 5 when anonymous).")
    var threshold: UInt32?
    @Option(help: "Pulse surveys: weekly, biweekly, monthly or quarterly.") var cadence: String?
    @Option(help: "Pulse surveys: ISO weekday (1 = Monday) or day of the month (1–28) a round opens.")
    var openDay: UInt32?
    @Option(help: "Pulse surveys: days a round stays open (default: 5, 7, 7 or 14 by cadence).")
    var openDays: UInt32?

    func validate() throws {
      // Without a cadence they would be dropped without a word.
      if self.cadence == nil, self.openDay != nil || self.openDays != nil {
        throw ValidationError("--open-day and --open-days need --cadence (pulse surveys)")
      }
    }

    func run() async throws {
      var request = Tally_V1_CreateSurveyRequest()
      request.survey.kind = self.kind
      request.survey.title = self.title
      request.survey.questions = try self.question.map(Self.parseQuestion)
      request.survey.anonymous = self.anonymous
      request.survey.anonymityThreshold = self.threshold ?? 0
      if let cadence = self.cadence {
        request.survey.cadence.period = cadence
        request.survey.cadence.openDay = self.openDay ?? 0
        request.survey.cadence.openDays = self.openDays ?? 0
      }
      let survey = try await self.connection.unary(SurveyMethods.createSurvey, request)
      try Surveys.show([survey], self.connection.output, list: false)
    }

    static func parseQuestion(_ spec: String) throws -> Tally_V1_Question {
      do {
        return try QuestionSpec.parse(spec)
      } catch {
        throw ValidationError(error.description)
      }
    }
  }

  struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List surveys, oldest first.")
    @OptionGroup var connection: ConnectionOptions
    @Option(help: "Only nps, enps or pulse surveys.") var kind: String?
    @Flag(help: "Archived surveys too.") var includeArchived = false

    func run() async throws {
      let surveys = try await self.connection.withClient { session in
        var request = Tally_V1_ListSurveysRequest()
        request.kind = self.kind ?? ""
        request.includeArchived = self.includeArchived
        request.pageSize = 500
        return try await session.client.allSurveys(request, options: session.options)
      }
      try Surveys.show(surveys, self.connection.output, list: true)
    }
  }

  struct Get: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show a survey and its questions.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The survey id.") var id: String

    func run() async throws {
      var request = Tally_V1_GetSurveyRequest()
      request.id = self.id
      let survey = try await self.connection.unary(SurveyMethods.getSurvey, request)
      if self.connection.output == .csv {
        // One table: a question per row (the survey's own columns are in `surveys list -o csv`).
        return Output.printTable(
          [["survey_id", "question", "type", "required", "text", "choices"]]
            + survey.questions.map {
              [survey.id, $0.id, $0.type, "\($0.required)", $0.text, $0.choices.joined(separator: "|")]
            })
      }
      try Surveys.show([survey], self.connection.output, list: false)
      guard self.connection.output != .json else { return }
      print("")
      Output.printTable(
        [["question", "type", "required", "text"]]
          + survey.questions.map { question in
            let choices = question.choices.isEmpty ? "" : " [\(question.choices.joined(separator: " | "))]"
            return [question.id, question.type, question.required ? "yes" : "no", question.text + choices]
          })
    }
  }

  struct Archive: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Archive a survey: its open round closes, no new round opens, results stay readable.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The survey id.") var id: String

    func run() async throws {
      var request = Tally_V1_ArchiveSurveyRequest()
      request.id = self.id
      let survey = try await self.connection.unary(SurveyMethods.archiveSurvey, request)
      try Surveys.show([survey], self.connection.output, list: false)
    }
  }

  struct OpenRound: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Open a round of a survey now.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The survey id.") var surveyID: String
    @Option(help: "When the round closes, e.g. 2026-12-31T17:00:00Z. Default: when close-round is called.")
    var closesAt: String?

    func run() async throws {
      var request = Tally_V1_OpenRoundRequest()
      request.surveyID = self.surveyID
      if let closesAt { request.closesAt = try Surveys.timestamp(closesAt, "--closes-at") }
      let round = try await self.connection.unary(SurveyMethods.openRound, request)
      try Surveys.show([round], self.connection.output)
    }
  }

  struct CloseRound: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Close a round: its tokens stop working.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The round id.") var roundID: String

    func run() async throws {
      var request = Tally_V1_CloseRoundRequest()
      request.roundID = self.roundID
      let round = try await self.connection.unary(SurveyMethods.closeRound, request)
      try Surveys.show([round], self.connection.output)
    }
  }

  struct Rounds: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List a survey's rounds.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The survey id.") var surveyID: String

    func run() async throws {
      var request = Tally_V1_ListRoundsRequest()
      request.surveyID = self.surveyID
      let rounds = try await self.connection.unary(SurveyMethods.listRounds, request).rounds
      try Surveys.show(rounds, self.connection.output)
    }
  }

  struct Invite: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Issue single-use answer tokens for a round; mail them yourself (they are shown only once).",
      discussion: """
        Either --count N tokens of one segment, or one token per --contact (NPS surveys). The table prints \
        one token per line; -o json prints the response.
        """
    )
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The round id.") var roundID: String
    @Option(help: "How many anonymous tokens (at most 10,000).") var count: UInt32?
    @Option(help: "A contact to invite (repeatable; NPS surveys).") var contact: [String] = []
    @Option(help: "The respondents' department.") var department: String?
    @Option(help: "The respondents' team.") var team: String?
    @Option(help: "The respondents' location.") var location: String?
    @Option(help: "When the tokens stop working, e.g. 2026-12-31T00:00:00Z. Default: when the round closes.")
    var expiresAt: String?

    func run() async throws {
      var request = Tally_V1_IssueInvitationsRequest()
      request.roundID = self.roundID
      var segment = Tally_V1_Segment()
      segment.department = self.department ?? ""
      segment.team = self.team ?? ""
      segment.location = self.location ?? ""
      request.count = self.count ?? 0
      if self.contact.isEmpty { request.segment = segment }
      request.invitees = self.contact.map { contact in
        var invitee = Tally_V1_Invitee()
        invitee.contactID = contact
        invitee.segment = segment
        return invitee
      }
      if let expiresAt { request.expiresAt = try Surveys.timestamp(expiresAt, "--expires-at") }
      let response = try await self.connection.unary(SurveyMethods.issueInvitations, request)
      guard self.connection.output != .json else { return try Output.printMessages([response]) }
      if self.contact.isEmpty {
        for invitation in response.invitations { print(invitation.token) }
      } else {
        Output.printTable([["contact", "token"]] + response.invitations.map { [$0.contactID, $0.token] })
      }
    }
  }

  /// An ISO 8601 time from a flag, or a validation error naming the flag.
  static func timestamp(_ text: String, _ flag: String) throws -> Google_Protobuf_Timestamp {
    guard let date = ISO8601DateFormatter().date(from: text) else {
      throw ValidationError("\(flag) must be an ISO 8601 time such as 2026-12-31T17:00:00Z, got \"\(text)\"")
    }
    return Google_Protobuf_Timestamp(date: date)
  }
}
