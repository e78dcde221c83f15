import Foundation
public import SwiftProtobuf
public import TallyProto
import TallyWire

/// CSV records to messages. A cell that cannot be read throws `ImportParsing.ValueError` naming
/// the field, and a row without one cell per column `ColumnMapping.CellCountError`; everything else (tiers above 3, unknown types) is left for the server to judge, so
/// the rules live in one place.
public enum ImportRows {
  /// `decimalSeparator`: how the file writes its amounts (`DecimalSeparator(csvDelimiter:)`);
  /// `minorDigits`: the tenant's currency's (`KpiReport.minorDigits`: 0 for JPY, whose amounts are
  /// whole yen, not hundredths).
  public static func account(
    _ fields: [String], _ columns: ColumnMapping, decimalSeparator: ImportParsing.DecimalSeparator = .point,
    minorDigits: Int = 2
  ) throws -> Tally_V1_Account {
    try columns.checkCellCount(fields)
    var account = Tally_V1_Account()
    account.id = columns.value("id", in: fields) ?? ""
    account.name = columns.value("name", in: fields) ?? ""
    account.domain = columns.value("domain", in: fields).map(ImportParsing.domain) ?? ""
    account.industry = columns.value("industry", in: fields) ?? ""
    account.owner = columns.value("owner", in: fields) ?? ""
    if let text = columns.value("employee_count", in: fields) {
      account.employeeCount = try ImportParsing.integer(
        text, field: "employee_count", decimalSeparator: decimalSeparator)
    }
    if let text = columns.value("annual_revenue", in: fields) {
      account.annualRevenue = try ImportParsing.money(
        text, field: "annual_revenue", minorDigits: minorDigits, decimalSeparator: decimalSeparator)
    }
    if let text = columns.value("arr", in: fields) {
      account.arr = try ImportParsing.money(
        text, field: "arr", minorDigits: minorDigits, decimalSeparator: decimalSeparator)
    }
    if let text = columns.value("tier", in: fields) { account.tier = try ImportParsing.tier(text, field: "tier") }
    if let text = columns.value("in_icp", in: fields) { account.inIcp = try ImportParsing.bool(text, field: "in_icp") }
    if let text = columns.value("customer_since", in: fields) {
      account.customerSince = timestamp(try ImportParsing.timestamp(text, field: "customer_since"))
    }
    if let text = columns.value("churned_at", in: fields) {
      account.churnedAt = timestamp(try ImportParsing.timestamp(text, field: "churned_at"))
    }
    account.attributes = columns.mapEntries(in: fields)
    return account
  }

  public static func contact(_ fields: [String], _ columns: ColumnMapping) throws -> Tally_V1_Contact {
    try columns.checkCellCount(fields)
    var contact = Tally_V1_Contact()
    contact.id = columns.value("id", in: fields) ?? ""
    contact.accountID = columns.value("account_id", in: fields) ?? ""
    contact.email = columns.value("email", in: fields) ?? ""
    let parts = [columns.value("first_name", in: fields), columns.value("last_name", in: fields)].compactMap { $0 }
    contact.name = columns.value("name", in: fields) ?? parts.joined(separator: " ")
    contact.title = columns.value("title", in: fields) ?? ""
    contact.role =
      columns.value("role", in: fields).map { $0.lowercased().replacingOccurrences(of: " ", with: "_") } ?? ""
    contact.department = columns.value("department", in: fields) ?? ""
    contact.attributes = columns.mapEntries(in: fields)
    return contact
  }

  /// `decimalSeparator` is the file's, as for accounts: a file of decimal commas groups thousands
  /// with points ("1.200"), in its whole numbers too.
  public static func event(
    _ fields: [String], _ columns: ColumnMapping, decimalSeparator: ImportParsing.DecimalSeparator = .point
  ) throws -> Tally_V1_Event {
    try columns.checkCellCount(fields)
    var event = Tally_V1_Event()
    event.key = columns.value("key", in: fields) ?? ""
    if let text = columns.value("occurred_at", in: fields) {
      event.occurredAt = timestamp(try ImportParsing.timestamp(text, field: "occurred_at"))
    }
    event.type = columns.value("type", in: fields) ?? ""
    event.accountID = columns.value("account_id", in: fields) ?? ""
    event.contactID = columns.value("contact_id", in: fields) ?? ""
    event.campaignID = columns.value("campaign_id", in: fields) ?? ""
    event.assetID = columns.value("asset_id", in: fields) ?? ""
    event.repID = columns.value("rep_id", in: fields) ?? ""
    if let text = columns.value("duration_seconds", in: fields) {
      let seconds = try ImportParsing.integer(text, field: "duration_seconds", decimalSeparator: decimalSeparator)
      // The server takes at most a day; past 32 bits the number does not fit the field at all.
      guard let value = UInt32(exactly: seconds) else {
        throw ImportParsing.ValueError(
          field: "duration_seconds", problem: "must be 0 to 86400 (a day), got \(seconds)")
      }
      event.durationSeconds = value
    }
    if let text = columns.value("value", in: fields) {
      event.value = try ImportParsing.integer(text, field: "value", decimalSeparator: decimalSeparator)
    }
    event.properties = columns.mapEntries(in: fields)
    return event
  }

  static func timestamp(_ micros: Int64) -> Google_Protobuf_Timestamp {
    Google_Protobuf_Timestamp(microseconds: micros)
  }
}

extension ImportRows {
  /// One NDJSON line as an event. Protobuf's JSON errors name no field, so on failure each key is
  /// tried alone to say which one is wrong (the error path only).
  public static func event(jsonLine line: String) throws -> Tally_V1_Event {
    do {
      return try Tally_V1_Event(jsonString: line)
    } catch {
      throw Self.jsonProblem(line, Tally_V1_Event.self)
    }
  }

  /// Which field of `line` (a JSON object) `M` refuses, tried one key at a time.
  public static func jsonProblem<M: Message>(_ line: String, _ type: M.Type) -> ImportParsing.ValueError {
    let name = M.protoMessageName
    guard let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] else {
      return .init(field: "line", problem: "is not a JSON object of \(name) fields")
    }
    for key in object.keys.sorted() {
      // null is every known field's default, so a key refused with it is no field of M.
      guard let known = try? JSONSerialization.data(withJSONObject: [key: NSNull()]),
        (try? M(jsonUTF8Data: known)) != nil
      else {
        return .init(field: key, problem: "is not a field of \(name) (fields use the .proto names, e.g. occurred_at)")
      }
      if let alone = try? JSONSerialization.data(withJSONObject: [key: object[key]!]),
        (try? M(jsonUTF8Data: alone)) == nil
      {
        return .init(field: key, problem: "is not a valid value for this field")
      }
    }
    return .init(field: "line", problem: "is not a JSON object of \(name) fields")
  }
}
