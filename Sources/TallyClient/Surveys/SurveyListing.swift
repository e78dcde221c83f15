public import TallyProto
import TallyWire

extension TallyClient {
  /// Every survey `request` selects, page after page (a tenant has tens of surveys, not millions).
  public func allSurveys(_ request: Tally_V1_ListSurveysRequest, options: CallOptions) async throws
    -> [Tally_V1_Survey]
  {
    var request = request
    var surveys: [Tally_V1_Survey] = []
    repeat {
      let page = try await self.unary(SurveyMethods.listSurveys, request, options: options)
      surveys += page.surveys
      request.pageToken = page.nextPageToken
    } while !request.pageToken.isEmpty
    return surveys
  }
}
