import Foundation

/// What a CSV file holds: accounts, contacts or events.
public enum ImportKind: String, Sendable, CaseIterable {
  case accounts, contacts, events

  /// The Tally fields a column may map to; `attributes.` / `properties.` entries come only from `--map`.
  public var fields: [String] {
    switch self {
    case .accounts:
      [
        "id", "name", "domain", "industry", "employee_count", "annual_revenue", "owner", "tier", "in_icp",
        "customer_since", "churned_at", "arr",
      ]
    case .contacts:
      ["id", "account_id", "email", "name", "first_name", "last_name", "title", "role", "department"]
    case .events:
      [
        "key", "occurred_at", "type", "account_id", "contact_id", "campaign_id", "asset_id", "duration_seconds",
        "value", "rep_id",
      ]
    }
  }

  /// The map field `--map Column=<prefix>.key` fills.
  public var mapPrefix: String { self == .events ? "properties" : "attributes" }

  /// Column names of HubSpot and Salesforce exports (and common spellings), normalized: lower-case,
  /// letters and digits only. A field's own name always matches too.
  var aliases: [String: String] {
    switch self {
    case .accounts:
      [
        "recordid": "id", "companyid": "id", "accountid": "id",
        "companyname": "name", "accountname": "name",
        "companydomainname": "domain", "website": "domain", "websiteurl": "domain", "companydomain": "domain",
        "numberofemployees": "employee_count", "employees": "employee_count",
        "companyowner": "owner", "accountowner": "owner", "ownerid": "owner", "hubspotowner": "owner",
        "targettier": "tier", "abmtier": "tier", "targetaccounttier": "tier", "idealcustomerprofiletier": "tier",
        "icp": "in_icp", "idealcustomerprofile": "in_icp",
        "becameacustomerdate": "customer_since", "customersince": "customer_since",
        "churndate": "churned_at", "annualrecurringrevenue": "arr",
      ]
    case .contacts:
      [
        "recordid": "id", "contactid": "id", "emailaddress": "email", "email": "email",
        "firstname": "first_name", "lastname": "last_name", "fullname": "name", "jobtitle": "title",
        "associatedcompanyid": "account_id", "companyid": "account_id", "accountid": "account_id",
        "buyingrole": "role", "contactrole": "role",
      ]
    case .events:
      [
        "eventid": "key", "idempotencykey": "key", "id": "key", "timestamp": "occurred_at", "date": "occurred_at",
        "time": "occurred_at", "eventtype": "type", "activitytype": "type", "companyid": "account_id",
        "accountid": "account_id", "contactid": "contact_id", "campaignid": "campaign_id", "assetid": "asset_id",
        "duration": "duration_seconds", "durationseconds": "duration_seconds", "repid": "rep_id",
        "ownerid": "rep_id",
      ]
    }
  }
}

/// Which column of a CSV header holds which Tally field: by the export's own column names, or by
/// `--map "Column=field"` for anything else. Columns that map to nothing are listed, not guessed.
public struct ColumnMapping: Sendable {
  public struct MappingError: Error, CustomStringConvertible {
    public var description: String
  }

  /// A row whose cells do not line up with the header's columns: which value belongs to which
  /// field cannot be known, so the row is refused rather than read with cells missing or dropped.
  public struct CellCountError: Error, Equatable, CustomStringConvertible {
    public var cells: Int
    public var columns: Int

    public init(cells: Int, columns: Int) {
      self.cells = cells
      self.columns = columns
    }

    public var description: String {
      "has \(self.cells) \(self.cells == 1 ? "cell" : "cells") where the header has \(self.columns) columns; "
        + "each row needs one cell per column (quote a cell that holds the delimiter)"
    }
  }

  private let headerCount: Int
  private var columnOf: [String: Int] = [:]
  private var mapColumns: [(key: String, column: Int)] = []
  /// Header columns that feed no field.
  public private(set) var unmappedColumns: [String] = []

  static func normalize(_ name: String) -> String {
    String(name.lowercased().unicodeScalars.filter { CharacterSet.alphanumerics.contains($0) })
  }

  public init(header: [String], kind: ImportKind, overrides: [String]) throws {
    self.headerCount = header.count
    var chosen: [Int: String] = [:]
    for override in overrides {
      guard let equals = override.lastIndex(of: "=") else {
        throw MappingError(description: "--map takes \"Column=field\", got \"\(override)\"")
      }
      let column = String(override[..<equals]).trimmingCharacters(in: .whitespaces)
      let field = String(override[override.index(after: equals)...]).trimmingCharacters(in: .whitespaces)
      let index = try Self.column(column, in: header)
      let isMapEntry = field.hasPrefix(kind.mapPrefix + ".") && field.count > kind.mapPrefix.count + 1
      guard kind.fields.contains(field) || isMapEntry || field == "-" else {
        throw MappingError(
          description: "--map: \"\(field)\" is not a field of \(kind.rawValue); use one of "
            + "\(kind.fields.joined(separator: ", ")), \(kind.mapPrefix).<key>, or - to ignore the column")
      }
      chosen[index] = field
    }
    for (index, name) in header.enumerated() where chosen[index] == nil {
      let normalized = Self.normalize(name)
      if let field = kind.fields.first(where: { Self.normalize($0) == normalized }) ?? kind.aliases[normalized] {
        chosen[index] = field
      }
    }
    for (index, name) in header.enumerated() {
      guard let field = chosen[index], field != "-" else {
        self.unmappedColumns.append(name)
        continue
      }
      if field.hasPrefix(kind.mapPrefix + ".") {
        self.mapColumns.append((String(field.dropFirst(kind.mapPrefix.count + 1)), index))
      } else if let other = self.columnOf[field] {
        let (first, second) = (Self.reference(to: other, in: header), Self.reference(to: index, in: header))
        throw MappingError(
          description: "columns \"\(header[other])\" and \"\(name)\" both map to \(field); "
            + "pick one with --map \"\(second)=-\" or --map \"\(first)=-\"")
      } else {
        self.columnOf[field] = index
      }
    }
  }

  /// The header column a `--map` names: by its name as written, else by its name in any case and
  /// spacing, else as "#N", its position from 1. A name that two columns share names neither: a
  /// file may repeat a column (two "Email"s), and only its position tells which one is meant.
  static func column(_ column: String, in header: [String]) throws -> Int {
    let exact = header.indices.filter { header[$0] == column }
    let named = exact.isEmpty ? header.indices.filter { Self.normalize(header[$0]) == Self.normalize(column) } : exact
    if named.count == 1 { return named[0] }
    if named.count > 1 {
      let positions = named.map { "#\($0 + 1)" }.joined(separator: ", ")
      throw MappingError(
        description: "--map: \(named.count) columns of the file are named \"\(column)\" (\(positions)); "
          + "name one by its position, as --map \"#\(named[0] + 1)=field\"")
    }
    if column.hasPrefix("#"), let position = Int(column.dropFirst()), position >= 1, position <= header.count {
      return position - 1
    }
    throw MappingError(
      description: "--map: the file has no column \"\(column)\"; it has \(header.joined(separator: ", ")) "
        + "(or name one by its position, #1 to #\(header.count))")
  }

  /// How `--map` names the column at `index`: its name if no other column goes by it, else "#N".
  static func reference(to index: Int, in header: [String]) -> String {
    (try? Self.column(header[index], in: header)) == index ? header[index] : "#\(index + 1)"
  }

  /// Throws `CellCountError` unless the row has one cell per header column.
  public func checkCellCount(_ fields: [String]) throws(CellCountError) {
    guard fields.count == self.headerCount else {
      throw CellCountError(cells: fields.count, columns: self.headerCount)
    }
  }

  /// The trimmed cell of `field`, or nil when the column is absent or the cell empty.
  public func value(_ field: String, in fields: [String]) -> String? {
    guard let index = self.columnOf[field], index < fields.count else { return nil }
    let value = fields[index].trimmingCharacters(in: .whitespaces)
    return value.isEmpty ? nil : value
  }

  /// The `attributes` / `properties` entries of a record, trimmed as every mapped field is
  /// (empty cells left out).
  public func mapEntries(in fields: [String]) -> [String: String] {
    var entries: [String: String] = [:]
    for (key, index) in self.mapColumns where index < fields.count {
      let value = fields[index].trimmingCharacters(in: .whitespaces)
      if !value.isEmpty { entries[key] = value }
    }
    return entries
  }

  public func has(_ field: String) -> Bool { self.columnOf[field] != nil }

  /// Which of `fields` no column maps to.
  public func missing(_ fields: [String]) -> [String] { fields.filter { self.columnOf[$0] == nil } }
}
