import SwiftProtobuf
import TallyClient
import TallyProto
import TallyWire
import Testing

/// `tally demo seed --if-empty` (what `make run` runs): a seed cut short is finished by the next
/// run, a seeded tenant and a tenant with data of its own are left alone.
@Suite struct DemoSeedStateTests {
  @Test func aSeedCutShortIsFinishedAndItsHalfDoneSurveysArchived() async throws {
    try await DataTestContext.with { context in
      let data = DemoDataSet(accountCount: 10)
      let loader = DemoLoader(client: context.clientA, options: CallOptions())
      #expect(try await loader.seedState(of: data) == .empty)

      // A seed stopped after its accounts and its first survey, before that survey's rounds.
      let accounts = Tally_V1_ImportAccountsRequest.with { $0.accounts = data.accounts }
      _ = try await context.clientA.clientStreaming(AccountMethods.importAccounts) { try await $0.send(accounts) }
      var nps = Tally_V1_CreateSurveyRequest()
      (nps.survey.kind, nps.survey.title) = ("nps", "Customer NPS")
      let halfDone = try await context.clientA.unary(SurveyMethods.createSurvey, nps)
      #expect(try await loader.seedState(of: data) == .cutShort)

      let outcome = try await loader.load(data, finishing: true)
      #expect(outcome.newEvents > 0 && outcome.surveyAnswers > 0)
      #expect(try await loader.seedState(of: data) == .complete)
      let surveys = try await context.clientA.unary(SurveyMethods.listSurveys, .init()).surveys
      #expect(surveys.map(\.title).sorted() == ["Customer NPS", "Employee NPS", "Weekly pulse"])
      #expect(!surveys.contains { $0.id == halfDone.id })
      var get = Tally_V1_GetSurveyRequest()
      get.id = halfDone.id
      #expect(try await context.clientA.unary(SurveyMethods.getSurvey, get).archived)

      // Another tenant's own accounts are not the demo's: it is left alone, and A's seed is not B's.
      let other = DemoLoader(client: context.clientB, options: CallOptions())
      #expect(try await other.seedState(of: data) == .empty)
      _ = try await context.clientB.unary(AccountMethods.upsertAccount, Fixture.upsert(Fixture.account("b-own")))
      #expect(try await other.seedState(of: data) == .otherData)
    }
  }
}
