import TallyWire
import Testing

/// Every method is shown to keep tenants apart by a named test, or has no tenant data to keep: a
/// method added without one fails here. The tests are named by reference, so a renamed or removed
/// test fails to compile.
@Suite struct IsolationCoverageTests {
  enum Evidence {
    /// A test in which tenant A's key neither reads nor changes tenant B's rows through the method.
    case test(Any)
    /// Why the method holds nothing of any tenant's.
    case noTenantData(String)
  }

  static var data: Evidence { .test(DataIsolationTests.tenantAsKeysNeverReadOrChangeTenantBsRows) }
  static var lists: Evidence { .test(ListIsolationTests.pageTokensFromTenantBsListsPageTenantAsRowsOnly) }
  static var imports: Evidence { .test(SharedIDIsolationTests.tenantAsImportWithTenantBsIdsWritesRowsOfItsOwn) }
  static var surveys: Evidence { .test(SurveyIsolationTests.tenantAsKeysNeverReadOrChangeTenantBsSurveys) }
  static var kpis: Evidence { .test(KpiDetailIsolationTests.tenantBsRowsUnderTenantAsIdsNeverChangeTenantAsAnswers) }
  static var admin: Evidence { .test(AdminServiceTests.scopesAndTenantsFenceEveryMethod) }

  static var evidence: [String: Evidence] {
    [
      "tally.v1.SystemService/Ping": .noTenantData("answers its own payload"),
      "tally.v1.SystemService/ServerInfo": .noTenantData("the server's version and limits"),
      "tally.v1.SystemService/Count": .noTenantData("counts to the request's number"),
      "tally.v1.SystemService/Sum": .noTenantData("adds the request's numbers"),
      "tally.v1.KpiService/ListKpis": .noTenantData("the fixed catalogue"),
      "tally.v1.AdminService/CreateTenant": Self.admin,
      "tally.v1.AdminService/GetTenant": Self.admin,
      "tally.v1.AdminService/ListTenants": Self.admin,
      "tally.v1.AdminService/SuspendTenant": Self.admin,
      "tally.v1.AdminService/ResumeTenant": Self.admin,
      "tally.v1.AdminService/SetTenantCallRate": Self.admin,
      "tally.v1.AdminService/CreateApiKey": Self.admin,
      "tally.v1.AdminService/ListApiKeys": Self.admin,
      "tally.v1.AdminService/RevokeApiKey": Self.admin,
      "tally.v1.AccountService/UpsertAccount": Self.data,
      "tally.v1.AccountService/GetAccount": Self.data,
      "tally.v1.AccountService/ListAccounts": Self.lists,
      "tally.v1.AccountService/DeleteAccount": Self.data,
      "tally.v1.AccountService/UpsertContact": Self.data,
      "tally.v1.AccountService/GetContact": Self.data,
      "tally.v1.AccountService/ListContacts": Self.lists,
      "tally.v1.AccountService/DeleteContact": Self.data,
      "tally.v1.AccountService/ImportAccounts": Self.imports,
      "tally.v1.CampaignService/UpsertCampaign": Self.data,
      "tally.v1.CampaignService/GetCampaign": Self.data,
      "tally.v1.CampaignService/ListCampaigns": Self.lists,
      "tally.v1.CampaignService/DeleteCampaign": Self.data,
      "tally.v1.CampaignService/SetCampaignTargets": Self.data,
      "tally.v1.CampaignService/RecordCost": Self.data,
      "tally.v1.CampaignService/ListCosts": Self.lists,
      "tally.v1.OpportunityService/UpsertOpportunity": Self.data,
      "tally.v1.OpportunityService/GetOpportunity": Self.data,
      "tally.v1.OpportunityService/ListOpportunities": Self.lists,
      "tally.v1.OpportunityService/DeleteOpportunity": Self.data,
      "tally.v1.EventService/RecordEvents": Self.data,
      "tally.v1.EventService/ListEvents": Self.lists,
      "tally.v1.SurveyService/CreateSurvey": .test(
        IdempotentCallsTests.aRepeatedCreateReturnsTheFirstSurveyAndCreatesNoOther),
      "tally.v1.SurveyService/GetSurvey": Self.surveys,
      "tally.v1.SurveyService/ListSurveys": .test(
        ListIsolationTests.aPageTokenFromTenantBsSurveysPagesTenantAsSurveysOnly),
      "tally.v1.SurveyService/UpdateSurvey": Self.surveys,
      "tally.v1.SurveyService/ArchiveSurvey": Self.surveys,
      "tally.v1.SurveyService/OpenRound": Self.surveys,
      "tally.v1.SurveyService/CloseRound": Self.surveys,
      "tally.v1.SurveyService/ListRounds": Self.surveys,
      "tally.v1.SurveyService/IssueInvitations": Self.surveys,
      "tally.v1.SurveyService/GetSurveyForToken": Self.surveys,
      "tally.v1.SurveyService/SubmitResponse": Self.surveys,
      "tally.v1.SurveyService/GetResults": Self.surveys,
      "tally.v1.SurveyService/ListComments": Self.surveys,
      "tally.v1.SurveyService/ExportResponses": Self.surveys,
      "tally.v1.KpiService/GetKpis": Self.kpis,
      "tally.v1.KpiService/GetAccountEngagement": Self.kpis,
      "tally.v1.KpiService/GetJourney": Self.kpis,
      "tally.v1.KpiService/GetAccountHealth": Self.kpis,
      "tally.v1.KpiService/GetContentEngagement": Self.kpis,
      "tally.v1.KpiService/GetCoverage": Self.kpis,
      "tally.v1.KpiService/GetRepActivity": Self.kpis,
      "tally.v1.KpiService/GetInfluence": Self.kpis,
      "tally.v1.KpiService/GetAttribution": Self.kpis,
      "tally.v1.KpiService/GetSettings": .test(KpiServiceTests.settingsRoundTripValidateAndStayPerTenant),
      "tally.v1.KpiService/UpdateSettings": .test(KpiServiceTests.settingsRoundTripValidateAndStayPerTenant),
    ]
  }

  @Test func everyMethodHasItsIsolationTestOrNoTenantData() {
    let methods = Set(MethodCatalog.all.map(\.fullName))
    let missing = methods.subtracting(Self.evidence.keys).sorted()
    #expect(missing.isEmpty, "methods without an isolation test: \(missing)")
    #expect(Set(Self.evidence.keys).subtracting(methods).isEmpty, "listed methods that are gone")
  }
}
