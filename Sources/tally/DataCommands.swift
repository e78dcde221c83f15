import ArgumentParser
import Foundation
import SwiftProtobuf
import TallyClient
import TallyProto
import TallyWire

/// `tally <plural> list|get|upsert|delete`, the same for every `DataEntity`.
enum DataCommands<E: DataEntity> {
  static var subcommands: [any ParsableCommand.Type] { [List.self, Get.self, Upsert.self, Delete.self] }

  static func show(_ items: [E.Entity], _ format: OutputFormat, list: Bool, currency: String) throws {
    guard format != .json else {
      return try list ? Output.printMessageArray(items) : Output.printMessages(items)
    }
    Output.printTable([E.tableHeader(currency: currency)] + items.map { E.tableRow($0, currency: currency) })
  }

  /// The tenant's currency, for the columns that hold money: its decimals, and its code in a CSV
  /// header. Empty when there are none, for JSON (minor units as stored), or when the key may not
  /// read the settings: amounts then show two decimals, as most currencies have.
  static func currency(_ session: Session, _ format: OutputFormat) async -> String {
    guard E.holdsMoney, format != .json else { return "" }
    return (try? await session.client.unary(KpiMethods.getSettings, .init(), options: session.options).currency) ?? ""
  }

  /// One call's entity and the currency to show it in, on one connection.
  static func callAndShow<Request: Message>(
    _ connection: ConnectionOptions, _ method: MethodDescriptor<Request, E.Entity>, _ request: Request
  ) async throws {
    let (item, currency) = try await connection.withClient { session in
      let item = try await session.client.unary(method, request, options: session.options)
      return (item, await Self.currency(session, connection.output))
    }
    try Self.show([item], connection.output, list: false, currency: currency)
  }

  /// A message from protobuf JSON (`--json`, or `@file`) with `--set field=value` applied on top.
  /// `money` names the fields whose `--set` values are amounts ("1250.00", in major units as lists
  /// show them) and the currency's decimals: JSON keeps the wire's minor units.
  static func message<M: Message>(
    json: String?, sets: [String], id: (String, String)? = nil, money: (fields: Set<String>, minorDigits: Int)? = nil,
    option: String = "--set"
  ) throws -> M {
    var object: [String: Any] = [:]
    if let json {
      let text: String
      if json.hasPrefix("@") {
        let path = String(json.dropFirst())
        do {
          text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
          throw ValidationError("--json: cannot read \(path) as UTF-8 text")
        }
      } else {
        text = json
      }
      guard let parsed = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
        throw ValidationError("--json must be a JSON object (or @FILE holding one)")
      }
      object = parsed
    }
    for assignment in sets {
      guard let equals = assignment.firstIndex(of: "="), equals != assignment.startIndex else {
        throw ValidationError("\(option) takes field=value, got \"\(assignment)\"")
      }
      let path = String(assignment[..<equals])
      let text = String(assignment[assignment.index(after: equals)...])
      // true/false is a JSON boolean only for a bool field: a company may be named "True".
      let isBool = (text == "true" || text == "false") && Self.isBoolField(M.self, path)
      var value: Any = isBool ? (text == "true") as Any : text as Any
      if let money, money.fields.contains(path) {
        do {
          value = String(try ImportParsing.money(text, field: path, minorDigits: money.minorDigits))
        } catch let error as ImportParsing.ValueError {
          throw ValidationError("\(option) \(error.field): \(error.problem) (an amount in the tenant's currency)")
        }
      }
      // attributes.region=EMEA sets one entry of a map field.
      if let dot = path.firstIndex(of: ".") {
        var map = object[String(path[..<dot])] as? [String: Any] ?? [:]
        map[String(path[path.index(after: dot)...])] = text
        object[String(path[..<dot])] = map
      } else {
        object[path] = value
      }
    }
    if let (field, value) = id { object[field] = value }
    let data = try JSONSerialization.data(withJSONObject: object)
    do {
      return try M(jsonUTF8Data: data)
    } catch {
      // Each field tried alone names the one that is wrong.
      let problem = ImportRows.jsonProblem(String(decoding: data, as: UTF8.self), M.self)
      let fromSet = sets.contains { $0.prefix { $0 != "=" && $0 != "." } == problem.field }
      throw ValidationError(
        "\(fromSet ? option : "--json") \(problem.field): \(problem.problem) (\(M.protoMessageName); fields use "
          + "the .proto names, e.g. account_id)")
    }
  }

  /// Whether `field` of `M` takes a JSON boolean: a message with only that field set to true parses.
  static func isBoolField<M: Message>(_ type: M.Type, _ field: String) -> Bool {
    guard let data = try? JSONSerialization.data(withJSONObject: [field: true]) else { return false }
    return (try? M(jsonUTF8Data: data)) != nil
  }

  struct List: AsyncParsableCommand {
    static var configuration: CommandConfiguration {
      CommandConfiguration(
        abstract: "List \(E.plural), ordered by id.",
        discussion: "Filters: \(E.filters.map { "--filter \($0)=…" }.joined(separator: ", "))."
      )
    }
    @OptionGroup var connection: ConnectionOptions
    @Option(help: "Items per page (at most 1000).") var pageSize: UInt32 = 100
    @Flag(help: "Follow every page to the end (-o json and csv print each page as it comes).") var all = false
    @Option(help: "field=value of the list request, e.g. account_id=acme.") var filter: [String] = []

    func run() async throws {
      // A filter at its field's unset value (tier=0, targets_only=false) filters nothing: said so,
      // rather than list every item as if it had.
      let filters = E.filters.joined(separator: ", ")
      for filter in self.filter {
        let field = String(filter.prefix { $0 != "=" })
        if field == "page_token" || field == "page_size" {
          throw ValidationError("--filter \(field) is not a filter: pages are --page-size and --all")
        }
        guard E.filters.contains(field), filter.contains("=") else {
          throw ValidationError("--filter takes field=value with a field of \(filters), got \"\(filter)\"")
        }
        let alone: [UInt8] = try (DataCommands.message(json: nil, sets: [filter], option: "--filter") as E.ListRequest)
          .serializedBytes()
        guard alone.isEmpty else { continue }
        throw ValidationError(
          "--filter \(filter) filters nothing: it is the field's unset value (the filters: \(filters))"
        )
      }
      // Filters are merged into each page's request; being unset there, page size and token survive.
      let requestFilters: [UInt8] = try
        (DataCommands.message(json: nil, sets: self.filter, option: "--filter")
        as E.ListRequest).serializedBytes()
      // A table pads its columns to the widest cell of all pages, so it waits for the last; JSON
      // and CSV go out page by page, so that --all over a large tenant holds one page at a time.
      let format = self.connection.output
      let (items, more, currency) = try await self.connection.withClient { session in
        let currency = await DataCommands.currency(session, format)
        var items: [E.Entity] = []
        var token = ""
        var pages = 0
        repeat {
          var request = E.listRequest(pageSize: self.pageSize, pageToken: token)
          try request.merge(serializedBytes: requestFilters)
          let (pageItems, next) = E.page(try await session.client.unary(E.list, request, options: session.options))
          token = next
          if format == .table {
            items += pageItems
          } else {
            try Self.printPage(pageItems, format, first: pages == 0, last: !self.all || token.isEmpty, currency)
          }
          pages += 1
        } while self.all && !token.isEmpty
        return (items, !token.isEmpty, currency)
      }
      if format == .table { try DataCommands.show(items, format, list: true, currency: currency) }
      if more { Output.printError("more \(E.plural) follow: pass --all to list them all") }
    }

    /// One page of a JSON array (one line over every page, `[` before the first, `]` after the
    /// last) or of CSV rows (the header before the first).
    static func printPage(_ items: [E.Entity], _ format: OutputFormat, first: Bool, last: Bool, _ currency: String)
      throws
    {
      let header = E.tableHeader(currency: currency)
      guard format == .json else {
        return Output.printTable(
          (first ? [header] : []) + items.map { E.tableRow($0, currency: currency) }, header: header)
      }
      let elements = try items.map { try $0.jsonString(options: Output.protoJSON) }.joined(separator: ",")
      print((first ? "[" : (items.isEmpty ? "" : ",")) + elements + (last ? "]" : ""), terminator: last ? "\n" : "")
    }
  }

  struct Get: AsyncParsableCommand {
    static var configuration: CommandConfiguration { CommandConfiguration(abstract: "Show one of the \(E.plural).") }
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The id.") var id: String

    func run() async throws {
      try await DataCommands.callAndShow(self.connection, E.get, E.getRequest(id: self.id))
    }
  }

  struct Upsert: AsyncParsableCommand {
    static var configuration: CommandConfiguration {
      CommandConfiguration(
        abstract: "Create or replace one of the \(E.plural): every field comes from --json and --set.",
        discussion: "Example: tally \(E.plural) upsert ID --set name=\"Acme\" --set attributes.region=EMEA"
      )
    }
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The id.") var id: String
    @Option(help: "The fields as protobuf JSON, or @FILE.") var json: String?
    @Option(
      help:
        "field=value (repeatable; map entries as map.key=value; times as 2026-01-31T00:00:00Z; amounts as 1250.00 in the tenant's currency, where --json takes minor units)."
    )
    var set: [String] = []

    func run() async throws {
      // An amount given with --set is in the tenant's currency, whose decimals take a call to read.
      let setsMoney = self.set.contains { E.moneyFields.contains(String($0.prefix { $0 != "=" })) }
      guard setsMoney else {
        let entity: E.Entity = try DataCommands.message(json: self.json, sets: self.set, id: ("id", self.id))
        return try await DataCommands.callAndShow(self.connection, E.upsert, E.upsertRequest(entity))
      }
      let (item, currency) = try await self.connection.withClient { session in
        let currency = try await session.client.unary(KpiMethods.getSettings, .init(), options: session.options)
          .currency
        let entity: E.Entity = try DataCommands.message(
          json: self.json, sets: self.set, id: ("id", self.id),
          money: (E.moneyFields, KpiReport.minorDigits(currency)))
        let item = try await session.client.unary(E.upsert, E.upsertRequest(entity), options: session.options)
        return (item, self.connection.output == .json ? "" : currency)
      }
      try DataCommands.show([item], self.connection.output, list: false, currency: currency)
    }
  }

  struct Delete: AsyncParsableCommand {
    static var configuration: CommandConfiguration { CommandConfiguration(abstract: "Delete one of the \(E.plural).") }
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The id.") var id: String

    func run() async throws {
      let response = try await self.connection.unary(E.delete, E.deleteRequest(id: self.id))
      let removed = E.removedWithIt(response)
      switch self.connection.output {
      case .json: try Output.printMessages([response])
      case .csv: Output.printTable([["deleted"] + removed.map(\.field), [self.id] + removed.map { "\($0.count)" }])
      case .table:
        let details = removed.map { "\($0.field) \($0.count)" }.joined(separator: ", ")
        print("deleted \(self.id)\(details.isEmpty ? "" : " (\(details))")")
      }
    }
  }
}
