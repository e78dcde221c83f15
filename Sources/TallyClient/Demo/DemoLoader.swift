import TallyProto
import TallyWire

/// Loads a `DemoDataSet` into a tenant through the same API any client uses: accounts and contacts,
/// campaigns with targets and costs, opportunities, events, then the demo's surveys and answers.
/// `tally demo seed` and `tally-bench seed` share it.
public struct DemoLoader: Sendable {
  public let client: TallyClient
  /// The tenant, for an operator key, and anything else every call carries.
  public let options: CallOptions

  public init(client: TallyClient, options: CallOptions) {
    self.client = client
    self.options = options
  }

  public struct Outcome: Sendable {
    public var newEvents: UInt64
    public var duplicateEvents: UInt64
    public var surveyAnswers: Int
  }

  /// `eventsPerMessage` events per RecordEvents message (the server takes at most 10,000).
  /// `finishing` a seed cut short archives the surveys it left half done first; everything else
  /// is an upsert or idempotent, so it is simply sent again.
  public func load(_ data: DemoDataSet, eventsPerMessage: Int = 5_000, finishing: Bool = false) async throws
    -> Outcome
  {
    let client = self.client
    let options = self.options
    if finishing { try await self.archiveSurveysOfCutSeed() }
    // The two client streams are sent again after a rate refusal (unary calls wait by themselves):
    // their rows are idempotent.
    let budget = client.maxRateLimitWait
    _ = try await RateLimitWaits.retrying(budget: budget) {
      try await client.clientStreaming(AccountMethods.importAccounts, options: options) { writer in
        for chunk in data.accounts.chunks(of: 1_000) {
          var accounts = Tally_V1_ImportAccountsRequest()
          accounts.accounts = Array(chunk)
          try await writer.send(accounts)
        }
        for chunk in data.contacts.chunks(of: 1_000) {
          var contacts = Tally_V1_ImportAccountsRequest()
          contacts.contacts = Array(chunk)
          try await writer.send(contacts)
        }
      }
    }
    for campaign in data.campaigns {
      var upsert = Tally_V1_UpsertCampaignRequest()
      upsert.campaign = campaign
      _ = try await client.unary(CampaignMethods.upsertCampaign, upsert, options: options)
      let accountIDs = data.campaignTargets[campaign.id] ?? []
      // The server takes at most 10,000 account ids a call.
      for chunk in accountIDs.chunks(of: 10_000) {
        var targets = Tally_V1_SetCampaignTargetsRequest()
        targets.campaignID = campaign.id
        targets.add = Array(chunk)
        _ = try await client.unary(CampaignMethods.setCampaignTargets, targets, options: options)
      }
    }
    try await Self.concurrently(data.costs) { cost in
      var request = Tally_V1_RecordCostRequest()
      request.cost = cost
      _ = try await client.unary(CampaignMethods.recordCost, request, options: options)
    }
    try await Self.concurrently(data.opportunities) { opportunity in
      var request = Tally_V1_UpsertOpportunityRequest()
      request.opportunity = opportunity
      _ = try await client.unary(OpportunityMethods.upsertOpportunity, request, options: options)
    }
    let recorded = try await RateLimitWaits.retrying(budget: budget) {
      try await client.clientStreaming(EventMethods.recordEvents, options: options) { writer in
        for chunk in data.events.chunks(of: eventsPerMessage) {
          var request = Tally_V1_RecordEventsRequest()
          request.events = Array(chunk)
          try await writer.send(request)
        }
      }
    }
    let answers = try await DemoSurveys(client: client, options: options, data: data).run()
    return Outcome(newEvents: recorded.accepted, duplicateEvents: recorded.duplicates, surveyAnswers: answers)
  }

  /// Runs `body` for every item with at most `limit` calls in flight on the one connection, which
  /// multiplexes them: a large tenant's thousands of upserts need not wait for each other.
  static func concurrently<Item: Sendable>(
    _ items: [Item], limit: Int = 16, _ body: @escaping @Sendable (Item) async throws -> Void
  ) async throws {
    try await withThrowingTaskGroup(of: Void.self) { group in
      for (index, item) in items.enumerated() {
        if index >= limit { try await group.next() }
        group.addTask { try await body(item) }
      }
      try await group.waitForAll()
    }
  }
}

/// The demo's surveys: customer NPS from the customers' contacts, eNPS by team, and a weekly pulse.
struct DemoSurveys {
  let client: TallyClient
  let options: CallOptions
  let data: DemoDataSet

  static let npsTitle = "Customer NPS"
  static let enpsTitle = "Employee NPS"
  /// The survey the seed creates last: a tenant that has it was seeded to the end.
  static let pulseTitle = "Weekly pulse"
  static let titles: Set = [npsTitle, enpsTitle, pulseTitle]

  func run() async throws -> Int {
    var answered = 0
    var random = DemoRandom(7)
    var nps = Tally_V1_CreateSurveyRequest()
    (nps.survey.kind, nps.survey.title) = ("nps", Self.npsTitle)
    let customerSurvey = try await self.client.unary(SurveyMethods.createSurvey, nps, options: self.options)
    let customers = Set(self.data.accounts.filter(\.hasCustomerSince).map(\.id))
    let respondents = self.data.contacts.filter { customers.contains($0.accountID) }.map(\.id)
    for round in 0..<2 {
      let roundID = try await self.openRound(customerSurvey.id)
      var invitations: [Tally_V1_Invitation] = []
      // The server issues at most 10,000 invitations a call.
      for chunk in respondents.chunks(of: 10_000) {
        var invite = Tally_V1_IssueInvitationsRequest()
        invite.roundID = roundID
        invite.invitees = chunk.map { contact in
          var invitee = Tally_V1_Invitee()
          invitee.contactID = contact
          return invitee
        }
        invitations += try await self.client.unary(SurveyMethods.issueInvitations, invite, options: self.options)
          .invitations
      }
      var answers: [(token: String, score: Int32)] = []
      for invitation in invitations where random.next(10) < 7 {
        answers.append((invitation.token, min(Int32(random.next(11) / 2 + 5 + round), 10)))
      }
      try await DemoLoader.concurrently(answers) { answer in
        try await self.answer(answer.token, score: answer.score, reason: "Round \(round + 1) feedback")
      }
      answered += answers.count
      try await self.closeRound(roundID)
    }
    var enps = Tally_V1_CreateSurveyRequest()
    (enps.survey.kind, enps.survey.title) = ("enps", Self.enpsTitle)
    let employeeSurvey = try await self.client.unary(SurveyMethods.createSurvey, enps, options: self.options)
    for _ in 0..<2 {
      let roundID = try await self.openRound(employeeSurvey.id)
      for (team, size) in [("platform", 12), ("sales", 9), ("support", 7), ("legal", 2)] {
        var invite = Tally_V1_IssueInvitationsRequest()
        invite.roundID = roundID
        invite.count = UInt32(size)
        invite.segment.team = team
        let tokens = try await self.client.unary(SurveyMethods.issueInvitations, invite, options: self.options)
        for invitation in tokens.invitations where random.next(10) < 8 {
          try await self.answer(invitation.token, score: Int32(3 + random.next(8)), reason: nil)
          answered += 1
        }
      }
      try await self.closeRound(roundID)
    }
    var pulse = Tally_V1_CreateSurveyRequest()
    (pulse.survey.kind, pulse.survey.title) = ("pulse", Self.pulseTitle)
    var mood = Tally_V1_Question()
    (mood.id, mood.type, mood.text, mood.required) = ("mood", "nps", "How likely are you to recommend your team?", true)
    var workload = Tally_V1_Question()
    (workload.id, workload.type, workload.text, workload.required) = (
      "workload", "rating", "How manageable was your workload?", true
    )
    pulse.survey.questions = [mood, workload]
    pulse.survey.cadence.period = "weekly"
    _ = try await self.client.unary(SurveyMethods.createSurvey, pulse, options: self.options)
    return answered
  }

  func openRound(_ surveyID: String) async throws -> String {
    var request = Tally_V1_OpenRoundRequest()
    request.surveyID = surveyID
    return try await self.client.unary(SurveyMethods.openRound, request, options: self.options).id
  }

  func closeRound(_ roundID: String) async throws {
    var request = Tally_V1_CloseRoundRequest()
    request.roundID = roundID
    _ = try await self.client.unary(SurveyMethods.closeRound, request, options: self.options)
  }

  func answer(_ token: String, score: Int32, reason: String?) async throws {
    var request = Tally_V1_SubmitResponseRequest()
    request.token = token
    var answer = Tally_V1_Answer()
    answer.questionID = "score"
    answer.number = score
    request.answers = [answer]
    if let reason {
      var text = Tally_V1_Answer()
      text.questionID = "reason"
      text.text = reason
      request.answers.append(text)
    }
    _ = try await self.client.unary(SurveyMethods.submitResponse, request, options: self.options)
  }
}

extension Array {
  /// Consecutive slices of at most `size` elements, in order: the chunks a request limit allows.
  func chunks(of size: Int) -> [ArraySlice<Element>] {
    precondition(size > 0, "a chunk holds at least one element")
    return stride(from: 0, to: self.count, by: size).map { self[$0..<Swift.min($0 + size, self.count)] }
  }
}
