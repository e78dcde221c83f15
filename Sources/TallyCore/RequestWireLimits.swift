public import TallyProto
public import TallyWire

/// A request whose lists are bounded on its wire form, before it is decoded (`WireFieldLimit`).
/// The bounds are the services' own (a longer list would be refused after decoding anyway), or,
/// for lists the services take at any length, 1,000. A streamed row's map is bounded at 1,000
/// too: the service rejects a row with more than its 100 entries alone, and the stream goes on.
public protocol WireBoundedRequest {
  static var wireFieldLimits: [WireFieldLimit] { get }
}

/// A request whose fields are bytes, never read as text: the stream-safe text check reads raw
/// bytes, and would refuse a payload that happens to spell a run of combining marks.
public protocol OpaqueBytesRequest {}

extension Tally_V1_PingRequest: OpaqueBytesRequest {}

/// The most entries of a list that no service bounds more tightly.
private let anyList = 1_000
private let stringMap = FieldChecker.maxMapEntries
/// A map of a row in a stream of rows, each rejected alone past `stringMap`.
private let rowMap = 1_000

private func kpiFilter(_ number: Int) -> WireFieldLimit {
  .message(
    number, "filter",
    [
      .repeated(1, "campaign_ids", max: KpiFilterSpec.maxListed), .repeated(2, "channels", max: anyList),
      .packed(3, "tiers", max: anyList), .repeated(4, "account_ids", max: KpiFilterSpec.maxListed),
    ])
}

private func segmentFilter(_ number: Int) -> WireFieldLimit {
  .message(
    number, "filter",
    [
      .repeated(1, "departments", max: anyList), .repeated(2, "teams", max: anyList),
      .repeated(3, "locations", max: anyList), .packed(4, "tiers", max: anyList),
    ])
}

private let surveyLimits = WireFieldLimit.message(
  1, "survey",
  [
    .repeated(
      4, "questions", max: SurveyDefinition.maxQuestions,
      each: [.repeated(5, "choices", max: SurveyDefinition.maxChoices)])
  ])

extension Tally_V1_RecordEventsRequest: WireBoundedRequest {
  public static let wireFieldLimits: [WireFieldLimit] = [
    .repeated(1, "events", max: EventService.maxBatch, each: [.map(11, "properties", max: rowMap)])
  ]
}

/// Sum's probe adds at most `SystemService.maxSumNumbers` numbers a message: 4 MiB of packed
/// varints would otherwise decode into 4 million Int64s, 32 MiB against the 4 MiB counted.
extension Tally_V1_SumRequest: WireBoundedRequest {
  public static let wireFieldLimits: [WireFieldLimit] = [.packed(1, "numbers", max: SystemService.maxSumNumbers)]
}

extension Tally_V1_ListEventsRequest: WireBoundedRequest {
  public static let wireFieldLimits: [WireFieldLimit] = [.repeated(6, "types", max: anyList)]
}

extension Tally_V1_ImportAccountsRequest: WireBoundedRequest {
  public static let wireFieldLimits: [WireFieldLimit] = [
    .repeated(
      1, "accounts", max: AccountService.maxImportRows,
      each: [.map(13, "attributes", max: rowMap), .repeated(16, "past_tenures", max: PastTenures.maxCount)]),
    .repeated(2, "contacts", max: AccountService.maxImportRows, each: [.map(8, "attributes", max: rowMap)]),
  ]
}

extension Tally_V1_UpsertAccountRequest: WireBoundedRequest {
  public static let wireFieldLimits: [WireFieldLimit] = [
    .message(
      1, "account", [.map(13, "attributes", max: stringMap), .repeated(16, "past_tenures", max: PastTenures.maxCount)])
  ]
}

extension Tally_V1_UpsertContactRequest: WireBoundedRequest {
  public static let wireFieldLimits: [WireFieldLimit] = [
    .message(1, "contact", [.map(8, "attributes", max: stringMap)])
  ]
}

extension Tally_V1_SetCampaignTargetsRequest: WireBoundedRequest {
  public static let wireFieldLimits: [WireFieldLimit] = [
    .repeated(2, "add", max: CampaignService.maxTargetChanges),
    .repeated(3, "remove", max: CampaignService.maxTargetChanges),
  ]
}

extension Tally_V1_CreateApiKeyRequest: WireBoundedRequest {
  public static let wireFieldLimits: [WireFieldLimit] = [.repeated(3, "scopes", max: anyList)]
}

extension Tally_V1_GetKpisRequest: WireBoundedRequest {
  public static let wireFieldLimits: [WireFieldLimit] = [
    .repeated(1, "names", max: KpiCatalog.all.count), kpiFilter(6),
  ]
}

extension Tally_V1_GetAccountEngagementRequest: WireBoundedRequest {
  public static let wireFieldLimits = [kpiFilter(2)]
}

extension Tally_V1_GetJourneyRequest: WireBoundedRequest {
  public static let wireFieldLimits = [kpiFilter(2)]
}

extension Tally_V1_GetAccountHealthRequest: WireBoundedRequest {
  public static let wireFieldLimits = [kpiFilter(2)]
}

extension Tally_V1_GetContentEngagementRequest: WireBoundedRequest {
  public static let wireFieldLimits = [kpiFilter(3)]
}

extension Tally_V1_GetCoverageRequest: WireBoundedRequest {
  public static let wireFieldLimits = [kpiFilter(3)]
}

extension Tally_V1_GetRepActivityRequest: WireBoundedRequest {
  public static let wireFieldLimits = [kpiFilter(3)]
}

extension Tally_V1_GetInfluenceRequest: WireBoundedRequest {
  public static let wireFieldLimits = [kpiFilter(3)]
}

extension Tally_V1_GetAttributionRequest: WireBoundedRequest {
  public static let wireFieldLimits = [kpiFilter(4)]
}

extension Tally_V1_UpdateKpiSettingsRequest: WireBoundedRequest {
  public static let wireFieldLimits: [WireFieldLimit] = [
    .message(
      1, "settings",
      [
        .map(1, "event_weights", max: anyList), .map(2, "tier_multipliers", max: anyList),
        .map(3, "role_multipliers", max: anyList),
      ])
  ]
}

extension Tally_V1_CreateSurveyRequest: WireBoundedRequest {
  public static let wireFieldLimits = [surveyLimits]
}

extension Tally_V1_UpdateSurveyRequest: WireBoundedRequest {
  public static let wireFieldLimits = [surveyLimits]
}

extension Tally_V1_IssueInvitationsRequest: WireBoundedRequest {
  public static let wireFieldLimits: [WireFieldLimit] = [
    .repeated(2, "invitees", max: SurveyService.maxInvitationsPerCall)
  ]
}

extension Tally_V1_SubmitResponseRequest: WireBoundedRequest {
  public static let wireFieldLimits: [WireFieldLimit] = [
    .repeated(
      2, "answers", max: SurveyDefinition.maxQuestions,
      each: [.message(3, "choices", [.repeated(1, "values", max: SurveyDefinition.maxChoices)])])
  ]
}

extension Tally_V1_GetResultsRequest: WireBoundedRequest {
  public static let wireFieldLimits = [segmentFilter(3)]
}

extension Tally_V1_ListCommentsRequest: WireBoundedRequest {
  public static let wireFieldLimits = [segmentFilter(3)]
}
