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
  /// Whether a column holds money (shown in the tenant's currency, which takes a call to read).
  static var holdsMoney: Bool { get }
  /// The fields `--set` takes as amounts in the tenant's currency ("1250.00"), stored in minor units.
  static var moneyFields: Set<String> { get }
  static func tableHeader(currency: String) -> [String]
  static func tableRow(_ entity: Entity, currency: String) -> [String]
  /// What a delete removed with the item, in the response's field order (`contacts_deleted`, say).
  static func removedWithIt(_ response: DeleteResponse) -> [(field: String, count: UInt32)]
}

extension DataEntity {
  static var holdsMoney: Bool { !Self.moneyFields.isEmpty }
  static var moneyFields: Set<String> { [] }
  static func removedWithIt(_ response: DeleteResponse) -> [(field: String, count: UInt32)] { [] }

  /// Minor units in `currency`'s decimals (two when it is not known), or the missing mark.
  static func money(_ value: Int64?, _ currency: String) -> String {
    guard let value else { return Output.missing }
    return Output.value(Double(value), "money", currency).trimmingCharacters(in: .whitespaces)
  }

  /// A money column's header; in CSV with the currency, since its cells are plain numbers.
  static func moneyHeader(_ name: String, _ currency: String) -> String {
    Output.moneyHeader(name, currency).uppercased()
  }
}

enum AccountEntity: DataEntity {
  static let plural = "accounts"
  static let get = AccountMethods.getAccount
  static let list = AccountMethods.listAccounts
  static let upsert = AccountMethods.upsertAccount
  static let delete = AccountMethods.deleteAccount
  static let filters = ["targets_only", "tier"]
  static let moneyFields: Set<String> = ["arr", "annual_revenue"]
  static func getRequest(id: String) -> Tally_V1_GetAccountRequest { .with { $0.id = id } }
  static func deleteRequest(id: String) -> Tally_V1_DeleteAccountRequest { .with { $0.id = id } }
  static func removedWithIt(_ response: Tally_V1_DeleteAccountResponse) -> [(field: String, count: UInt32)] {
    [("contacts_deleted", response.contactsDeleted), ("opportunities_deleted", response.opportunitiesDeleted)]
  }
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
  static func tableHeader(currency: String) -> [String] {
    ["ID", "NAME", "DOMAIN", "TIER", "ICP", Self.moneyHeader("ARR", currency), "OWNER"]
  }
  static func tableRow(_ account: Tally_V1_Account, currency: String) -> [String] {
    [
      account.id, account.name, account.domain, String(account.tier), account.inIcp ? "yes" : "no",
      Self.money(account.hasArr ? account.arr : nil, currency), account.owner,
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
  static func tableHeader(currency: String) -> [String] { ["ID", "ACCOUNT", "NAME", "EMAIL", "ROLE", "TITLE"] }
  static func tableRow(_ contact: Tally_V1_Contact, currency: String) -> [String] {
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
  static let moneyFields: Set<String> = ["budget"]
  static func getRequest(id: String) -> Tally_V1_GetCampaignRequest { .with { $0.id = id } }
  static func deleteRequest(id: String) -> Tally_V1_DeleteCampaignRequest { .with { $0.id = id } }
  static func removedWithIt(_ response: Tally_V1_DeleteCampaignResponse) -> [(field: String, count: UInt32)] {
    [("targets_removed", response.targetsRemoved), ("costs_unlinked", response.costsUnlinked)]
  }
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
  static func tableHeader(currency: String) -> [String] {
    ["ID", "NAME", "CHANNEL", "STARTS", "ENDS", "TARGETS", Self.moneyHeader("BUDGET", currency)]
  }
  static func tableRow(_ campaign: Tally_V1_Campaign, currency: String) -> [String] {
    [
      campaign.id, campaign.name, campaign.channel, Output.time(campaign.startsAt),
      Output.time(campaign.hasEndsAt ? campaign.endsAt : nil), String(campaign.targetAccountCount),
      Self.money(campaign.hasBudget ? campaign.budget : nil, currency),
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
  static let moneyFields: Set<String> = ["amount"]
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
  static func tableHeader(currency: String) -> [String] {
    ["ID", "ACCOUNT", "NAME", Self.moneyHeader("AMOUNT", currency), "STATUS", "TYPE", "CREATED", "CLOSED"]
  }
  static func tableRow(_ opportunity: Tally_V1_Opportunity, currency: String) -> [String] {
    [
      opportunity.id, opportunity.accountID, opportunity.name, Self.money(opportunity.amount, currency),
      opportunity.status,
      opportunity.type, Output.time(opportunity.createdAt),
      Output.time(opportunity.hasClosedAt ? opportunity.closedAt : nil),
    ]
  }
}
