public import TallyProto

/// `tally.v1.AccountService`.
public enum AccountMethods {
  public static let upsertAccount = MethodDescriptor<Tally_V1_UpsertAccountRequest, Tally_V1_Account>(
    "tally.v1.AccountService/UpsertAccount",
    .unary
  )
  public static let getAccount = MethodDescriptor<Tally_V1_GetAccountRequest, Tally_V1_Account>(
    "tally.v1.AccountService/GetAccount",
    .unary
  )
  public static let listAccounts = MethodDescriptor<Tally_V1_ListAccountsRequest, Tally_V1_ListAccountsResponse>(
    "tally.v1.AccountService/ListAccounts",
    .unary
  )
  public static let deleteAccount = MethodDescriptor<Tally_V1_DeleteAccountRequest, Tally_V1_DeleteAccountResponse>(
    "tally.v1.AccountService/DeleteAccount",
    .unary
  )
  public static let upsertContact = MethodDescriptor<Tally_V1_UpsertContactRequest, Tally_V1_Contact>(
    "tally.v1.AccountService/UpsertContact",
    .unary
  )
  public static let getContact = MethodDescriptor<Tally_V1_GetContactRequest, Tally_V1_Contact>(
    "tally.v1.AccountService/GetContact",
    .unary
  )
  public static let listContacts = MethodDescriptor<Tally_V1_ListContactsRequest, Tally_V1_ListContactsResponse>(
    "tally.v1.AccountService/ListContacts",
    .unary
  )
  public static let deleteContact = MethodDescriptor<Tally_V1_DeleteContactRequest, Tally_V1_DeleteContactResponse>(
    "tally.v1.AccountService/DeleteContact",
    .unary
  )
  public static let importAccounts = MethodDescriptor<Tally_V1_ImportAccountsRequest, Tally_V1_ImportAccountsResponse>(
    "tally.v1.AccountService/ImportAccounts",
    .clientStreaming
  )
  public static let all: [AnyMethodDescriptor] = [
    upsertAccount.erased,
    getAccount.erased,
    listAccounts.erased,
    deleteAccount.erased,
    upsertContact.erased,
    getContact.erased,
    listContacts.erased,
    deleteContact.erased,
    importAccounts.erased,
  ]
}

/// `tally.v1.CampaignService`.
public enum CampaignMethods {
  public static let upsertCampaign = MethodDescriptor<Tally_V1_UpsertCampaignRequest, Tally_V1_Campaign>(
    "tally.v1.CampaignService/UpsertCampaign",
    .unary
  )
  public static let getCampaign = MethodDescriptor<Tally_V1_GetCampaignRequest, Tally_V1_Campaign>(
    "tally.v1.CampaignService/GetCampaign",
    .unary
  )
  public static let listCampaigns = MethodDescriptor<Tally_V1_ListCampaignsRequest, Tally_V1_ListCampaignsResponse>(
    "tally.v1.CampaignService/ListCampaigns",
    .unary
  )
  public static let deleteCampaign = MethodDescriptor<Tally_V1_DeleteCampaignRequest, Tally_V1_DeleteCampaignResponse>(
    "tally.v1.CampaignService/DeleteCampaign",
    .unary
  )
  public static let setCampaignTargets = MethodDescriptor<
    Tally_V1_SetCampaignTargetsRequest, Tally_V1_SetCampaignTargetsResponse
  >(
    "tally.v1.CampaignService/SetCampaignTargets",
    .unary
  )
  public static let recordCost = MethodDescriptor<Tally_V1_RecordCostRequest, Tally_V1_Cost>(
    "tally.v1.CampaignService/RecordCost",
    .unary
  )
  public static let listCosts = MethodDescriptor<Tally_V1_ListCostsRequest, Tally_V1_ListCostsResponse>(
    "tally.v1.CampaignService/ListCosts",
    .unary
  )
  public static let all: [AnyMethodDescriptor] = [
    upsertCampaign.erased,
    getCampaign.erased,
    listCampaigns.erased,
    deleteCampaign.erased,
    setCampaignTargets.erased,
    recordCost.erased,
    listCosts.erased,
  ]
}

/// `tally.v1.OpportunityService`.
public enum OpportunityMethods {
  public static let upsertOpportunity = MethodDescriptor<Tally_V1_UpsertOpportunityRequest, Tally_V1_Opportunity>(
    "tally.v1.OpportunityService/UpsertOpportunity",
    .unary
  )
  public static let getOpportunity = MethodDescriptor<Tally_V1_GetOpportunityRequest, Tally_V1_Opportunity>(
    "tally.v1.OpportunityService/GetOpportunity",
    .unary
  )
  public static let listOpportunities = MethodDescriptor<
    Tally_V1_ListOpportunitiesRequest, Tally_V1_ListOpportunitiesResponse
  >(
    "tally.v1.OpportunityService/ListOpportunities",
    .unary
  )
  public static let deleteOpportunity = MethodDescriptor<
    Tally_V1_DeleteOpportunityRequest, Tally_V1_DeleteOpportunityResponse
  >(
    "tally.v1.OpportunityService/DeleteOpportunity",
    .unary
  )
  public static let all: [AnyMethodDescriptor] = [
    upsertOpportunity.erased,
    getOpportunity.erased,
    listOpportunities.erased,
    deleteOpportunity.erased,
  ]
}

/// `tally.v1.EventService`.
public enum EventMethods {
  public static let recordEvents = MethodDescriptor<Tally_V1_RecordEventsRequest, Tally_V1_RecordEventsResponse>(
    "tally.v1.EventService/RecordEvents",
    .clientStreaming
  )
  public static let listEvents = MethodDescriptor<Tally_V1_ListEventsRequest, Tally_V1_ListEventsResponse>(
    "tally.v1.EventService/ListEvents",
    .serverStreaming
  )
  public static let all: [AnyMethodDescriptor] = [
    recordEvents.erased,
    listEvents.erased,
  ]
}
