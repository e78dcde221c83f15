import Foundation
import SwiftProtobuf
import TallyProto
import TallyStore
import TallyWire

/// `tally.v1.AccountService`: accounts and contacts of the call's tenant.
public struct AccountService: Sendable {
  /// Rows per import message, for accounts and for contacts each.
  static let maxImportRows = 1_000
  /// Rejections listed in an import answer; the count covers all of them.
  static let maxListedRejections = 1_000

  private let database: TenantDatabase

  public init(database: TenantDatabase) { self.database = database }

  public func register(into router: inout Router) {
    router.unary(AccountMethods.upsertAccount, access: .tenantWrite, self.upsertAccount)
    router.unary(AccountMethods.getAccount, access: .tenantRead, self.getAccount)
    router.unary(AccountMethods.listAccounts, access: .tenantRead, self.listAccounts)
    router.unary(AccountMethods.deleteAccount, access: .tenantWrite, self.deleteAccount)
    router.unary(AccountMethods.upsertContact, access: .tenantWrite, self.upsertContact)
    router.unary(AccountMethods.getContact, access: .tenantRead, self.getContact)
    router.unary(AccountMethods.listContacts, access: .tenantRead, self.listContacts)
    router.unary(AccountMethods.deleteContact, access: .tenantWrite, self.deleteContact)
    router.clientStreaming(AccountMethods.importAccounts, access: .tenantWrite, self.importAccounts)
  }

  // MARK: Accounts

  @Sendable func upsertAccount(_ request: Tally_V1_UpsertAccountRequest, _ context: RequestContext) async throws
    -> Tally_V1_Account
  {
    let (account, violations) = AccountRecord.validate(request.account, prefix: "account.")
    // The account's past_tenures count only when the request replaces them.
    let (tenures, tenureViolations, omitted) =
      request.replacePastTenures ? PastTenures.validate(account, prefix: "account.") : (nil, [], 0)
    guard violations.isEmpty, tenureViolations.isEmpty else {
      throw RPCError.invalidArgument(violations + tenureViolations, omitted: omitted)
    }
    return try await self.database.transaction(context) { connection in
      try AccountRecord.message(
        connection.query(AccountRecord.upsertSQL, AccountRecord.parameters(account, replacing: tenures)).rows[0]
      )
    }
  }

  @Sendable func getAccount(_ request: Tally_V1_GetAccountRequest, _ context: RequestContext) async throws
    -> Tally_V1_Account
  {
    try Self.checkID(request.id, "id")
    let row = try await self.database.transaction(context) { connection in
      try connection.query("SELECT \(AccountRecord.columns) FROM accounts WHERE account_id = $1", [request.id]).rows
        .first
    }
    guard let row else { throw RPCError(code: .notFound, message: "no account \(request.id)") }
    return try AccountRecord.message(row)
  }

  @Sendable func listAccounts(_ request: Tally_V1_ListAccountsRequest, _ context: RequestContext) async throws
    -> Tally_V1_ListAccountsResponse
  {
    var checker = FieldChecker()
    let (pageSize, after) = try IDPageToken.read(size: request.pageSize, token: request.pageToken, into: &checker)
    if request.tier > 3 { checker.add("tier", "must be 0 (any) or a target tier 1, 2 or 3; got \(request.tier)") }
    try checker.check()
    let rows = try await self.database.transaction(context) { connection in
      try connection.query(
        """
        SELECT \(AccountRecord.columns) FROM accounts
        WHERE ($1::text IS NULL OR account_id > $1) AND (NOT $2::boolean OR tier > 0) AND ($3::int = 0 OR tier = $3)
        ORDER BY account_id LIMIT $4
        """,
        [after, request.targetsOnly, Int(request.tier), pageSize + 1]
      ).rows
    }
    var response = Tally_V1_ListAccountsResponse()
    (response.accounts, response.nextPageToken) = try IDPageToken.page(rows, pageSize, AccountRecord.message, id: \.id)
    return response
  }

  @Sendable func deleteAccount(_ request: Tally_V1_DeleteAccountRequest, _ context: RequestContext) async throws
    -> Tally_V1_DeleteAccountResponse
  {
    try Self.checkID(request.id, "id")
    // The account locked first, so that no contact or deal joins it meanwhile, and its children
    // deleted by name, so that one moved away meanwhile is not counted: counted before a cascading
    // delete, a contact added or moved by a write racing it was deleted uncounted, or counted undeleted.
    // Its contacts are locked in id order before they are deleted, the order ImportAccounts writes
    // them in: deleted in the index's order, they could wait in a circle with an import moving them.
    let counts = try await self.database.transaction(context) { connection -> (Int, Int)? in
      let lock = "SELECT 1 FROM accounts WHERE account_id = $1 FOR UPDATE"
      guard !(try connection.query(lock, [request.id]).rows.isEmpty) else { return nil }
      try connection.query("SELECT 1 FROM contacts WHERE account_id = $1 ORDER BY contact_id FOR UPDATE", [request.id])
      let contacts = try connection.query("DELETE FROM contacts WHERE account_id = $1", [request.id]).affectedRows
      let deals = try connection.query("DELETE FROM opportunities WHERE account_id = $1", [request.id]).affectedRows
      try connection.query("DELETE FROM accounts WHERE account_id = $1", [request.id])
      return (contacts, deals)
    }
    guard let counts else { throw RPCError(code: .notFound, message: "no account \(request.id)") }
    var response = Tally_V1_DeleteAccountResponse()
    response.contactsDeleted = UInt32(counts.0)
    response.opportunitiesDeleted = UInt32(counts.1)
    return response
  }

  // MARK: Contacts

  @Sendable func upsertContact(_ request: Tally_V1_UpsertContactRequest, _ context: RequestContext) async throws
    -> Tally_V1_Contact
  {
    let (contact, violations) = ContactRecord.validate(request.contact, prefix: "contact.")
    guard violations.isEmpty else { throw RPCError.invalidArgument(violations) }
    let row = try await self.database.transaction(context) { connection -> PostgresRow? in
      guard try missingIDs([contact.accountID], table: "accounts", column: "account_id", connection).isEmpty else {
        return nil
      }
      return try connection.query(ContactRecord.upsertSQL, ContactRecord.parameters(contact)).rows[0]
    }
    guard let row else {
      throw RPCError.notFound(field: "contact.account_id", "names no account: \(contact.accountID)")
    }
    return try ContactRecord.message(row)
  }

  @Sendable func getContact(_ request: Tally_V1_GetContactRequest, _ context: RequestContext) async throws
    -> Tally_V1_Contact
  {
    try Self.checkID(request.id, "id")
    let row = try await self.database.transaction(context) { connection in
      try connection.query("SELECT \(ContactRecord.columns) FROM contacts WHERE contact_id = $1", [request.id]).rows
        .first
    }
    guard let row else { throw RPCError(code: .notFound, message: "no contact \(request.id)") }
    return try ContactRecord.message(row)
  }

  @Sendable func listContacts(_ request: Tally_V1_ListContactsRequest, _ context: RequestContext) async throws
    -> Tally_V1_ListContactsResponse
  {
    var checker = FieldChecker()
    let (pageSize, after) = try IDPageToken.read(size: request.pageSize, token: request.pageToken, into: &checker)
    checker.text(request.accountID, "account_id")
    try checker.check()
    let rows = try await self.database.transaction(context) { connection in
      try connection.query(
        """
        SELECT \(ContactRecord.columns) FROM contacts
        WHERE ($1::text IS NULL OR contact_id > $1) AND ($2::text IS NULL OR account_id = $2)
        ORDER BY contact_id LIMIT $3
        """,
        [after, nonEmpty(request.accountID), pageSize + 1]
      ).rows
    }
    var response = Tally_V1_ListContactsResponse()
    (response.contacts, response.nextPageToken) = try IDPageToken.page(rows, pageSize, ContactRecord.message, id: \.id)
    return response
  }

  @Sendable func deleteContact(_ request: Tally_V1_DeleteContactRequest, _ context: RequestContext) async throws
    -> Tally_V1_DeleteContactResponse
  {
    try Self.checkID(request.id, "id")
    let deleted = try await self.database.transaction(context) { connection in
      try connection.query("DELETE FROM contacts WHERE contact_id = $1", [request.id]).affectedRows
    }
    guard deleted == 1 else { throw RPCError(code: .notFound, message: "no contact \(request.id)") }
    return Tally_V1_DeleteContactResponse()
  }

  // MARK: Import

  /// Each message is one transaction: its valid accounts, then its valid contacts whose account exists.
  @Sendable func importAccounts(_ requests: RequestStream<Tally_V1_ImportAccountsRequest>, _ context: RequestContext)
    async throws -> Tally_V1_ImportAccountsResponse
  {
    var response = Tally_V1_ImportAccountsResponse()
    var batch: UInt32 = 0
    do {
      // As RecordEvents: a stream without a message reaches no transaction, and answered OK for a
      // tenant an operator key named that does not exist.
      try await self.database.checkTenant(context)
      try await self.importMessages(requests, into: &response, batch: &batch, context)
    } catch let error as RPCError {
      throw error.endingStream(afterStoring: batch)
    }
    return response
  }

  /// Stores each message of an import in its own transaction, counting them in `batch`.
  private func importMessages(
    _ requests: RequestStream<Tally_V1_ImportAccountsRequest>, into response: inout Tally_V1_ImportAccountsResponse,
    batch: inout UInt32, _ context: RequestContext
  ) async throws {
    for try await request in requests {
      try Self.checkImportMessage(request, batch)
      var rejections: [Tally_V1_RejectedItem] = []
      var accounts: [Tally_V1_Account] = []
      for (index, input) in request.accounts.enumerated() {
        let (account, violations) = AccountRecord.validate(input, prefix: "")
        if let first = violations.first {
          rejections.append(.init(batch: batch, list: "accounts", index: index, id: input.id, violation: first))
        } else {
          accounts.append(account)
        }
      }
      var contacts: [(Int, Tally_V1_Contact)] = []
      for (index, input) in request.contacts.enumerated() {
        let (contact, violations) = ContactRecord.validate(input, prefix: "")
        if let first = violations.first {
          rejections.append(.init(batch: batch, list: "contacts", index: index, id: input.id, violation: first))
        } else {
          contacts.append((index, contact))
        }
      }
      let batchNumber = batch
      // Upserted in id order (by bytes): two imports that share ids then lock their rows in one
      // order, and neither waits for the other in a deadlock.
      let validAccounts = accounts.sorted { ExactID($0.id) < ExactID($1.id) }
      let validContacts = contacts.sorted { ExactID($0.1.id) < ExactID($1.1.id) }
      let (storedContacts, orphans) = try await self.database.transaction(context) { connection in
        for account in validAccounts {
          try connection.query(AccountRecord.upsertSQL, AccountRecord.parameters(account))
        }
        let missing = Set(
          try missingIDs(validContacts.map(\.1.accountID), table: "accounts", column: "account_id", connection)
            .map { ExactID($0) })
        var orphans: [Tally_V1_RejectedItem] = []
        var stored = 0
        for (index, contact) in validContacts {
          if missing.contains(ExactID(contact.accountID)) {
            let violation = RPCError.FieldViolation(field: "account_id", description: "no account \(contact.accountID)")
            orphans.append(
              .init(batch: batchNumber, list: "contacts", index: index, id: contact.id, violation: violation))
          } else {
            try connection.query(ContactRecord.upsertSQL, ContactRecord.parameters(contact))
            stored += 1
          }
        }
        return (stored, orphans)
      }
      rejections += orphans.sorted { $0.index < $1.index }
      response.accountsUpserted += UInt64(accounts.count)
      response.contactsUpserted += UInt64(storedContacts)
      response.rejected += UInt64(rejections.count)
      response.rejections += rejections.prefix(max(0, Self.maxListedRejections - response.rejections.count))
      batch += 1
    }
  }

  /// A message over the limits, or naming an id twice, ends the import: of two rows with one id
  /// only the last would stay, yet both were counted as stored.
  static func checkImportMessage(_ request: Tally_V1_ImportAccountsRequest, _ batch: UInt32) throws {
    var checker = FieldChecker()
    let lists = [("accounts", request.accounts.map(\.id)), ("contacts", request.contacts.map(\.id))]
    for (list, ids) in lists where ids.count > Self.maxImportRows {
      checker.add(list, "must be at most \(Self.maxImportRows) per message, got \(ids.count) (message \(batch))")
    }
    try checker.check()
    for (list, ids) in lists {
      for (index, first) in Validation.repeats(ids) where !ids[index].isEmpty {
        checker.add(
          "\(list)[\(index)].id",
          "\"\(ids[index].prefix(60))\" is also \(list)[\(first)].id: an id may appear once per message "
            + "(message \(batch))")
      }
    }
    try checker.check()
  }

  static func checkID(_ id: String, _ field: String) throws {
    var checker = FieldChecker()
    checker.id(id, field)
    try checker.check()
  }
}

extension Tally_V1_RejectedItem {
  init(batch: UInt32, list: String, index: Int, id: String, violation: RPCError.FieldViolation) {
    self.init()
    self.batch = batch
    self.list = list
    self.index = UInt32(index)
    self.id = String(id.prefix(200))
    self.field = violation.field
    self.reason = violation.description
  }
}
