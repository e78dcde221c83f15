import ArgumentParser
import Foundation
import TallyClient
import TallyProto
import TallyWire

/// `tally demo seed`: fills a tenant with the demo data set, through the same API a client uses.
struct Demo: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Demo data for a tenant.", subcommands: [Seed.self])

  struct Seed: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Fill the tenant with a realistic, deterministic data set: accounts, a year of events, surveys.",
      discussion: """
        300 accounts in four tiers with contacts, 8 campaigns with targets and monthly costs, a year of events, \
        opportunities, an NPS survey and an eNPS survey with two answered rounds each, and a weekly pulse survey. \
        Accounts, events and costs are upserts or idempotent, so a second run adds nothing but new survey rounds; \
        --if-empty skips a tenant that has accounts already (make run uses it).
        """
    )
    @OptionGroup var connection: ConnectionOptions
    @Flag(help: "Do nothing when the tenant has accounts already.") var ifEmpty = false
    @Option(help: "How many accounts.") var accounts = 300

    func run() async throws {
      let data = DemoDataSet(accountCount: max(10, min(self.accounts, 5_000)))
      try await self.connection.withClient { session in
        let client = session.client
        let options = session.options
        if self.ifEmpty {
          var probe = Tally_V1_ListAccountsRequest()
          probe.pageSize = 1
          if !(try await client.unary(AccountMethods.listAccounts, probe, options: options).accounts.isEmpty) {
            print("demo seed: the tenant has accounts already; nothing to do")
            return
          }
        }
        _ = try await client.clientStreaming(AccountMethods.importAccounts, options: options) { writer in
          var request = Tally_V1_ImportAccountsRequest()
          request.accounts = data.accounts
          try await writer.send(request)
          for start in stride(from: 0, to: data.contacts.count, by: 1_000) {
            var contacts = Tally_V1_ImportAccountsRequest()
            contacts.contacts = Array(data.contacts[start..<min(start + 1_000, data.contacts.count)])
            try await writer.send(contacts)
          }
        }
        for campaign in data.campaigns {
          var upsert = Tally_V1_UpsertCampaignRequest()
          upsert.campaign = campaign
          _ = try await client.unary(CampaignMethods.upsertCampaign, upsert, options: options)
          var targets = Tally_V1_SetCampaignTargetsRequest()
          targets.campaignID = campaign.id
          targets.add = data.campaignTargets[campaign.id] ?? []
          _ = try await client.unary(CampaignMethods.setCampaignTargets, targets, options: options)
        }
        for cost in data.costs {
          var request = Tally_V1_RecordCostRequest()
          request.cost = cost
          _ = try await client.unary(CampaignMethods.recordCost, request, options: options)
        }
        for opportunity in data.opportunities {
          var request = Tally_V1_UpsertOpportunityRequest()
          request.opportunity = opportunity
          _ = try await client.unary(OpportunityMethods.upsertOpportunity, request, options: options)
        }
        let recorded = try await client.clientStreaming(EventMethods.recordEvents, options: options) { writer in
          for start in stride(from: 0, to: data.events.count, by: 5_000) {
            var request = Tally_V1_RecordEventsRequest()
            request.events = Array(data.events[start..<min(start + 5_000, data.events.count)])
            try await writer.send(request)
          }
        }
        let surveys = try await DemoSurveys(client: client, options: options, data: data).run()
        print(
          "demo seed: \(data.accounts.count) accounts, \(data.contacts.count) contacts, \(data.campaigns.count) campaigns, "
            + "\(data.opportunities.count) opportunities, \(recorded.accepted) new events "
            + "(\(recorded.duplicates) already there), \(surveys) survey answers")
      }
    }
  }
}

/// The demo's surveys: customer NPS from the customers' contacts, eNPS by team, and a weekly pulse.
struct DemoSurveys {
  let client: TallyClient
  let options: CallOptions
  let data: DemoDataSet

  func run() async throws -> Int {
    var answered = 0
    var random = DemoRandom(7)
    var nps = Tally_V1_CreateSurveyRequest()
    (nps.survey.kind, nps.survey.title) = ("nps", "Customer NPS")
    let customerSurvey = try await self.client.unary(SurveyMethods.createSurvey, nps, options: self.options)
    let customers = Set(self.data.accounts.filter(\.hasCustomerSince).map(\.id))
    let respondents = self.data.contacts.filter { customers.contains($0.accountID) }.map(\.id)
    for round in 0..<2 {
      let roundID = try await self.openRound(customerSurvey.id)
      var invite = Tally_V1_IssueInvitationsRequest()
      invite.roundID = roundID
      invite.invitees = respondents.map { contact in
        var invitee = Tally_V1_Invitee()
        invitee.contactID = contact
        return invitee
      }
      let tokens = try await self.client.unary(SurveyMethods.issueInvitations, invite, options: self.options)
      for invitation in tokens.invitations where random.next(10) < 7 {
        let score = Int32(random.next(11) / 2 + 5 + round)
        try await self.answer(invitation.token, score: min(score, 10), reason: "Round \(round + 1) feedback")
        answered += 1
      }
      try await self.closeRound(roundID)
    }
    var enps = Tally_V1_CreateSurveyRequest()
    (enps.survey.kind, enps.survey.title) = ("enps", "Employee NPS")
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
    (pulse.survey.kind, pulse.survey.title) = ("pulse", "Weekly pulse")
    var mood = Tally_V1_Question()
    (mood.id, mood.type, mood.text, mood.required) = ("mood", "nps", "How likely are you to recommend your team?", true)
    var workload = Tally_V1_Question()
    (workload.id, workload.type, workload.text) = ("workload", "rating", "How manageable was your workload?")
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
