import Foundation
import SwiftProtobuf
import TallyProto
import TallyStore
import TallyWire

/// SQL for the tenant the current transaction is fenced to.
let currentTenantSQL = "current_setting('tally.tenant_id')::uuid"

/// Validation and SQL rows of accounts.
enum AccountRecord {
  static let columns = """
    account_id, name, domain, industry, employee_count, annual_revenue, owner, tier, in_icp,
    \(Micros.column("customer_since")), \(Micros.column("churned_at")), arr, attributes::text AS attributes,
    \(Micros.column("created_at")), \(Micros.column("updated_at")), \(Self.pastTenuresColumn)
    """

  /// The past tenures as one text of microseconds, "since churned_at" per tenure in order.
  static let pastTenuresColumn = """
    array_to_string(ARRAY(SELECT \(Micros.of("lower(r)")) || ' ' || \(Micros.of("upper(r)"))
      FROM unnest(past_tenures) r), ' ') AS past_tenures
    """

  /// $14 says whether $15 and $16 (PastTenures) replace the kept past tenures.
  static let upsertSQL = """
    INSERT INTO accounts AS a (tenant_id, account_id, name, domain, industry, employee_count, annual_revenue, owner,
      tier, in_icp, customer_since, churned_at, arr, attributes, past_tenures)
    VALUES (\(currentTenantSQL), $1, $2, $3, $4, $5::bigint, $6::bigint, $7, $8::smallint, $9::boolean,
      \(Micros.sql("$10")), \(Micros.sql("$11")), $12::bigint, $13::jsonb,
      CASE WHEN $14::boolean THEN \(PastTenures.sql(since: "$15", churned: "$16")) END)
    ON CONFLICT (tenant_id, account_id) DO UPDATE SET name = EXCLUDED.name, domain = EXCLUDED.domain,
      industry = EXCLUDED.industry, employee_count = EXCLUDED.employee_count,
      annual_revenue = EXCLUDED.annual_revenue, owner = EXCLUDED.owner, tier = EXCLUDED.tier,
      in_icp = EXCLUDED.in_icp, customer_since = EXCLUDED.customer_since, churned_at = EXCLUDED.churned_at,
      arr = EXCLUDED.arr, attributes = EXCLUDED.attributes, updated_at = now(),
      past_tenures = CASE WHEN $14::boolean THEN EXCLUDED.past_tenures ELSE a.past_tenures END
    RETURNING \(columns)
    """

  /// The account's violations, with field paths under `prefix`; the account with its domain normalized.
  static func validate(_ input: Tally_V1_Account, prefix: String) -> (Tally_V1_Account, [RPCError.FieldViolation]) {
    var account = input
    var checker = FieldChecker(prefix: prefix)
    checker.newID(account.id, "id")
    let nameViolations = Validation.name(account.name, field: prefix + "name")
    if !account.domain.isEmpty, !isHostName(account.domain) {
      checker.add(
        "domain",
        "must be a host name such as example.com: labels of ASCII letters, digits and hyphens joined by dots; "
          + "got \"\(account.domain.prefix(60))\"")
    }
    account.domain = account.domain.lowercased()
    checker.text(account.industry, "industry")
    checker.text(account.owner, "owner")
    if account.hasEmployeeCount { checker.nonNegative(account.employeeCount, "employee_count") }
    if account.hasAnnualRevenue { checker.money(account.annualRevenue, "annual_revenue") }
    if account.hasArr { checker.money(account.arr, "arr") }
    if account.tier > 3 {
      checker.add("tier", "must be 0 (not a target) or a target tier 1, 2 or 3; got \(account.tier)")
    }
    let since = checker.timestamp(account.hasCustomerSince ? account.customerSince : nil, "customer_since")
    let churned = checker.timestamp(account.hasChurnedAt ? account.churnedAt : nil, "churned_at")
    if let since, let churned, churned < since { checker.add("churned_at", "must not be before customer_since") }
    checker.map(account.attributes, "attributes")
    return (account, nameViolations + checker.violations)
  }

  /// The upsert's parameters; `replacing` past tenures, or nil to keep those the account has.
  static func parameters(_ account: Tally_V1_Account, replacing: PastTenures? = nil) -> [(any PostgresBindable)?] {
    let tenures = (replacing ?? PastTenures()).parameters
    return [
      account.id, account.name, nonEmpty(account.domain), nonEmpty(account.industry),
      account.hasEmployeeCount ? account.employeeCount : nil, account.hasAnnualRevenue ? account.annualRevenue : nil,
      nonEmpty(account.owner), Int(account.tier), account.inIcp,
      account.hasCustomerSince ? micros(account.customerSince) : nil,
      account.hasChurnedAt ? micros(account.churnedAt) : nil,
      account.hasArr ? account.arr : nil, JSONMap.encode(account.attributes),
      replacing != nil, tenures[0], tenures[1],
    ]
  }

  static func message(_ row: PostgresRow) throws -> Tally_V1_Account {
    var account = Tally_V1_Account()
    account.id = try row.require(String.self, "account_id")
    account.name = try row.require(String.self, "name")
    account.domain = try row.decode(String.self, "domain") ?? ""
    account.industry = try row.decode(String.self, "industry") ?? ""
    if let value = try row.decode(Int64.self, "employee_count") { account.employeeCount = value }
    if let value = try row.decode(Int64.self, "annual_revenue") { account.annualRevenue = value }
    account.owner = try row.decode(String.self, "owner") ?? ""
    account.tier = UInt32(try row.require(Int.self, "tier"))
    account.inIcp = try row.require(Bool.self, "in_icp")
    if let value = try row.decode(Int64.self, "customer_since") { account.customerSince = Micros.timestamp(value) }
    if let value = try row.decode(Int64.self, "churned_at") { account.churnedAt = Micros.timestamp(value) }
    if let value = try row.decode(Int64.self, "arr") { account.arr = value }
    account.attributes = JSONMap.decode(try row.decode(String.self, "attributes"))
    account.createdAt = Micros.timestamp(try row.require(Int64.self, "created_at"))
    account.updatedAt = Micros.timestamp(try row.require(Int64.self, "updated_at"))
    let bounds = try row.require(String.self, "past_tenures").split(separator: " ").compactMap { Int64($0) }
    account.pastTenures = stride(from: 0, to: bounds.count - 1, by: 2).map { index in
      var tenure = Tally_V1_CustomerTenure()
      (tenure.since, tenure.churnedAt) = (Micros.timestamp(bounds[index]), Micros.timestamp(bounds[index + 1]))
      return tenure
    }
    return account
  }

  /// At most 253 code points: two or more labels joined by dots, each 1 to 63 ASCII letters, digits
  /// and hyphens, not starting or ending with a hyphen. Checked before lower-casing, which would
  /// turn the Kelvin sign into a "k".
  static func isHostName(_ value: String) -> Bool {
    let labels = value.unicodeScalars.split(separator: ".", omittingEmptySubsequences: false)
    return value.unicodeScalars.count <= 253 && labels.count >= 2
      && labels.allSatisfy { label in
        (1...63).contains(label.count) && label.first != "-" && label.last != "-"
          && label.allSatisfy {
            ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "-"
          }
      }
  }
}

/// Validation and SQL rows of contacts.
enum ContactRecord {
  static let roles = ["decision_maker", "champion", "influencer", "blocker", "user", "other"]

  static let columns = """
    contact_id, account_id, email, name, title, role, department, attributes::text AS attributes,
    \(Micros.column("created_at")), \(Micros.column("updated_at"))
    """

  static let upsertSQL = """
    INSERT INTO contacts (tenant_id, contact_id, account_id, email, name, title, role, department, attributes)
    VALUES (\(currentTenantSQL), $1, $2, $3, $4, $5, $6, $7, $8::jsonb)
    ON CONFLICT (tenant_id, contact_id) DO UPDATE SET account_id = EXCLUDED.account_id, email = EXCLUDED.email,
      name = EXCLUDED.name, title = EXCLUDED.title, role = EXCLUDED.role, department = EXCLUDED.department,
      attributes = EXCLUDED.attributes, updated_at = now()
    RETURNING \(columns)
    """

  static func validate(_ input: Tally_V1_Contact, prefix: String) -> (Tally_V1_Contact, [RPCError.FieldViolation]) {
    var contact = input
    var checker = FieldChecker(prefix: prefix)
    checker.newID(contact.id, "id")
    checker.id(contact.accountID, "account_id")
    contact.email = contact.email.trimmingCharacters(in: .whitespaces)
    if !contact.email.isEmpty,
      contact.email.unicodeScalars.count > 254
        || contact.email.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
        || !isAddress(contact.email)
    {
      checker.add("email", "must be an address such as ana@example.com, got \"\(contact.email.prefix(60))\"")
    }
    checker.text(contact.name, "name")
    checker.text(contact.title, "title")
    checker.text(contact.department, "department")
    contact.role = checker.oneOf(contact.role, "role", roles, defaultValue: "other")
    checker.map(contact.attributes, "attributes")
    return (contact, checker.violations)
  }

  /// "local@domain.tld": one @, no white space, a dot inside the domain. Checked without a regular
  /// expression, whose `$` also matches before a final line break such as U+2028.
  static func isAddress(_ value: String) -> Bool {
    let parts = value.unicodeScalars.split(separator: "@", omittingEmptySubsequences: false)
    return parts.count == 2 && !parts[0].isEmpty && parts[1].dropFirst().dropLast().contains(".")
      && !value.unicodeScalars.contains { $0.properties.isWhitespace }
  }

  static func parameters(_ contact: Tally_V1_Contact) -> [(any PostgresBindable)?] {
    [
      contact.id, contact.accountID, nonEmpty(contact.email), nonEmpty(contact.name), nonEmpty(contact.title),
      contact.role, nonEmpty(contact.department), JSONMap.encode(contact.attributes),
    ]
  }

  static func message(_ row: PostgresRow) throws -> Tally_V1_Contact {
    var contact = Tally_V1_Contact()
    contact.id = try row.require(String.self, "contact_id")
    contact.accountID = try row.require(String.self, "account_id")
    contact.email = try row.decode(String.self, "email") ?? ""
    contact.name = try row.decode(String.self, "name") ?? ""
    contact.title = try row.decode(String.self, "title") ?? ""
    contact.role = try row.require(String.self, "role")
    contact.department = try row.decode(String.self, "department") ?? ""
    contact.attributes = JSONMap.decode(try row.decode(String.self, "attributes"))
    contact.createdAt = Micros.timestamp(try row.require(Int64.self, "created_at"))
    contact.updatedAt = Micros.timestamp(try row.require(Int64.self, "updated_at"))
    return contact
  }
}

func nonEmpty(_ value: String) -> String? { value.isEmpty ? nil : value }

/// Microseconds since the epoch. A time too far off to count (±292,000 years) gives `Int64.min` or
/// `.max`, so that a client's absurd value fails its range check instead of stopping the server.
func micros(_ timestamp: Google_Protobuf_Timestamp) -> Int64 {
  let (whole, overflow) = timestamp.seconds.multipliedReportingOverflow(by: 1_000_000)
  let (sum, overflowAgain) = whole.addingReportingOverflow(Int64(timestamp.nanos / 1000))
  guard !overflow, !overflowAgain else { return timestamp.seconds < 0 ? .min : .max }
  return sum
}

/// Which of `ids` name no row of `table` (for the current tenant), each once. Compared by their
/// UTF-8 bytes, as PostgreSQL compares them (`ExactID`). The rows found stay locked FOR KEY SHARE
/// (the lock a foreign key's check takes) until the transaction ends: a delete racing the writes
/// that name them waits, where it made their foreign key fail and the whole import message with it.
func missingIDs(_ ids: [String], table: String, column: String, _ connection: PostgresConnection) throws -> [String] {
  guard !ids.isEmpty else { return [] }
  let found = try connection.query(
    "SELECT \(column) AS id FROM \(table) WHERE \(column) = ANY($1::text[]) FOR KEY SHARE",
    [PostgresArray.literal(ids)]
  ).rows
  let present = Set(try found.map { ExactID(try $0.require(String.self, "id")) })
  var seen = Set<ExactID>()
  return ids.filter { !present.contains(ExactID($0)) && seen.insert(ExactID($0)).inserted }
}
