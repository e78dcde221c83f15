import Foundation
import SwiftProtobuf
import TallyProto
import TallyWire

/// One kind of tenant data the CLI lists, shows, upserts and deletes the same way.
protocol DataEntity {
  associatedtype Entity: Message
  associatedtype GetRequest: Message
  associatedtype ListRequest: Message
  associatedtype ListResponse: Message
  associatedtype UpsertRequest: Message
  associatedtype DeleteRequest: Message
  associatedtype DeleteResponse: Message

  /// "accounts", as in `tally accounts list`.
  static var plural: String { get }
  static var get: MethodDescriptor<GetRequest, Entity> { get }
  static var list: MethodDescriptor<ListRequest, ListResponse> { get }
  static var upsert: MethodDescriptor<UpsertRequest, Entity> { get }
  static var delete: MethodDescriptor<DeleteRequest, DeleteResponse> { get }
  /// The list filters `--filter` takes (field names of the list request).
  static var filters: [String] { get }

  static func getRequest(id: String) -> GetRequest
  static func deleteRequest(id: String) -> DeleteRequest
  static func upsertRequest(_ entity: Entity) -> UpsertRequest
  static func listRequest(pageSize: UInt32, pageToken: String) -> ListRequest
  static func page(_ response: ListResponse) -> (items: [Entity], nextPageToken: String)
  static var tableHeader: [String] { get }
  static func tableRow(_ entity: Entity) -> [String]
}

/// Minor units as a plain decimal amount (two decimals), or "-" when absent.
func money(_ value: Int64?) -> String {
  guard let value else { return "-" }
  let magnitude = value.magnitude  // abs(Int64.min) would trap
  return String(format: "%@%llu.%02llu", value < 0 ? "-" : "", magnitude / 100, magnitude % 100)
}

enum AccountEntity: DataEntity {
  static let plural = "accounts"
  static let get = AccountMethods.getAccount
  static let list = AccountMethods.listAccounts
  static let upsert = AccountMethods.upsertAccount
  static let delete = AccountMethods.deleteAccount
  static let filters = ["targets_only", "tier"]
  static func getRequest(id: String) -> Tally_V1_GetAccountRequest { .with { $0.id = id } }
  static func deleteRequest(id: String) -> Tally_V1_DeleteAccountRequest { .with { $0.id = id } }
  static func upsertRequest(_ entity: Tally_V1_Account) -> Tally_V1_UpsertAccountRequest {
    .with { $0.account = entity }
  }
  static func listRequest(pageSize: UInt32, pageToken: String) -> Tally_V1_ListAccountsRequest {
    .with {
      $0.pageSize = pageSize
      $0.pageToken = pageToken
    }
  }
  static func page(_ response: Tally_V1_ListAccountsResponse) -> (items: [Tally_V1_Account], nextPageToken: String) {
    (response.accounts, response.nextPageToken)
  }
  static let tableHeader = ["ID", "NAME", "DOMAIN", "TIER", "ICP", "ARR", "OWNER"]
  static func tableRow(_ account: Tally_V1_Account) -> [String] {
    [
      account.id, account.name, account.domain, String(account.tier), account.inIcp ? "yes" : "no",
      money(account.hasArr ? account.arr : nil), account.owner,
    ]
  }
}

enum ContactEntity: DataEntity {
  static let plural = "contacts"
  static let get = AccountMethods.getContact
  static let list = AccountMethods.listContacts
  static let upsert = AccountMethods.upsertContact
  static let delete = AccountMethods.deleteContact
  static let filters = ["account_id"]
  static func getRequest(id: String) -> Tally_V1_GetContactRequest { .with { $0.id = id } }
  static func deleteRequest(id: String) -> Tally_V1_DeleteContactRequest { .with { $0.id = id } }
  static func upsertRequest(_ entity: Tally_V1_Contact) -> Tally_V1_UpsertContactRequest {
    .with { $0.contact = entity }
  }
  static func listRequest(pageSize: UInt32, pageToken: String) -> Tally_V1_ListContactsRequest {
    .with {
      $0.pageSize = pageSize
      $0.pageToken = pageToken
    }
  }
  static func page(_ response: Tally_V1_ListContactsResponse) -> (items: [Tally_V1_Contact], nextPageToken: String) {
    (response.contacts, response.nextPageToken)
  }
  static let tableHeader = ["ID", "ACCOUNT", "NAME", "EMAIL", "ROLE", "TITLE"]
  static func tableRow(_ contact: Tally_V1_Contact) -> [String] {
    [contact.id, contact.accountID, contact.name, contact.email, contact.role, contact.title]
  }
}

enum CampaignEntity: DataEntity {
  static let plural = "campaigns"
  static let get = CampaignMethods.getCampaign
  static let list = CampaignMethods.listCampaigns
  static let upsert = CampaignMethods.upsertCampaign
  static let delete = CampaignMethods.deleteCampaign
  static let filters = ["channel"]
  static func getRequest(id: String) -> Tally_V1_GetCampaignRequest { .with { $0.id = id } }
  static func deleteRequest(id: String) -> Tally_V1_DeleteCampaignRequest { .with { $0.id = id } }
  static func upsertRequest(_ entity: Tally_V1_Campaign) -> Tally_V1_UpsertCampaignRequest {
    .with { $0.campaign = entity }
  }
  static func listRequest(pageSize: UInt32, pageToken: String) -> Tally_V1_ListCampaignsRequest {
    .with {
      $0.pageSize = pageSize
      $0.pageToken = pageToken
    }
  }
  static func page(_ response: Tally_V1_ListCampaignsResponse) -> (items: [Tally_V1_Campaign], nextPageToken: String) {
    (response.campaigns, response.nextPageToken)
  }
  static let tableHeader = ["ID", "NAME", "CHANNEL", "STARTS", "ENDS", "TARGETS", "BUDGET"]
  static func tableRow(_ campaign: Tally_V1_Campaign) -> [String] {
    [
      campaign.id, campaign.name, campaign.channel, Output.time(campaign.startsAt),
      Output.time(campaign.hasEndsAt ? campaign.endsAt : nil), String(campaign.targetAccountCount),
      money(campaign.hasBudget ? campaign.budget : nil),
    ]
  }
}

enum OpportunityEntity: DataEntity {
  static let plural = "opportunities"
  static let get = OpportunityMethods.getOpportunity
  static let list = OpportunityMethods.listOpportunities
  static let upsert = OpportunityMethods.upsertOpportunity
  static let delete = OpportunityMethods.deleteOpportunity
  static let filters = ["account_id", "status"]
  static func getRequest(id: String) -> Tally_V1_GetOpportunityRequest { .with { $0.id = id } }
  static func deleteRequest(id: String) -> Tally_V1_DeleteOpportunityRequest { .with { $0.id = id } }
  static func upsertRequest(_ entity: Tally_V1_Opportunity) -> Tally_V1_UpsertOpportunityRequest {
    .with { $0.opportunity = entity }
  }
  static func listRequest(pageSize: UInt32, pageToken: String) -> Tally_V1_ListOpportunitiesRequest {
    .with {
      $0.pageSize = pageSize
      $0.pageToken = pageToken
    }
  }
  static func page(_ response: Tally_V1_ListOpportunitiesResponse) -> (
    items: [Tally_V1_Opportunity], nextPageToken: String
  ) {
    (response.opportunities, response.nextPageToken)
  }
  static let tableHeader = ["ID", "ACCOUNT", "NAME", "AMOUNT", "STATUS", "TYPE", "CREATED", "CLOSED"]
  static func tableRow(_ opportunity: Tally_V1_Opportunity) -> [String] {
    [
      opportunity.id, opportunity.accountID, opportunity.name, money(opportunity.amount), opportunity.status,
      opportunity.type, Output.time(opportunity.createdAt),
      Output.time(opportunity.hasClosedAt ? opportunity.closedAt : nil),
    ]
  }
}
