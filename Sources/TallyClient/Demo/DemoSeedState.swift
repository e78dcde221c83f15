import TallyProto
import TallyWire

extension DemoLoader {
  /// How much of the demo data set a tenant holds: what `tally demo seed --if-empty` decides by.
  public enum SeedState: Sendable, Equatable {
    /// No accounts: seed it.
    case empty
    /// The demo's accounts, but not its last survey: a seed cut short, to be finished.
    case cutShort
    /// The demo's accounts and its last survey: nothing to do.
    case complete
    /// Accounts that are not the demo's: the tenant is someone's, and is left alone.
    case otherData
  }

  /// Where the tenant stands. The seed creates the weekly pulse survey last, so a tenant with the
  /// demo's first account and no such survey (archived ones count) was left by a seed cut short.
  public func seedState(of data: DemoDataSet) async throws -> SeedState {
    var probe = Tally_V1_ListAccountsRequest()
    probe.pageSize = 1
    guard !(try await self.client.unary(AccountMethods.listAccounts, probe, options: self.options).accounts.isEmpty)
    else { return .empty }
    guard let first = data.accounts.first else { return .otherData }
    var get = Tally_V1_GetAccountRequest()
    get.id = first.id
    do {
      _ = try await self.client.unary(AccountMethods.getAccount, get, options: self.options)
    } catch let error as RPCError where error.code == .notFound {
      return .otherData
    }
    let surveys = try await self.surveys(includeArchived: true)
    return surveys.contains { $0.kind == "pulse" && $0.title == DemoSurveys.pulseTitle } ? .complete : .cutShort
  }

  /// Archives the surveys a seed cut short created before its end (their rounds half done), so
  /// that the seed run again makes whole ones beside no broken ones.
  func archiveSurveysOfCutSeed() async throws {
    for survey in try await self.surveys(includeArchived: false) where DemoSurveys.titles.contains(survey.title) {
      var archive = Tally_V1_ArchiveSurveyRequest()
      archive.id = survey.id
      _ = try await self.client.unary(SurveyMethods.archiveSurvey, archive, options: self.options)
    }
  }

  private func surveys(includeArchived: Bool) async throws -> [Tally_V1_Survey] {
    var request = Tally_V1_ListSurveysRequest()
    request.includeArchived = includeArchived
    return try await self.client.allSurveys(request, options: self.options)
  }
}
