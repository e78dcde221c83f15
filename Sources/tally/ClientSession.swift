import ArgumentParser
import TallyClient
import TallyWire

/// A client with the call options and endpoint the command line resolved to.
struct Session {
  var client: TallyClient
  var options: CallOptions
  var endpoint: String
}

extension ConnectionOptions {
  /// Runs `body` with a client and closes it afterwards. An `RPCError` becomes
  /// `error: CODE: message` on stderr and exit code 1, never a Swift error dump; a CA certificate
  /// that cannot be used is the user's input, exit 64.
  func withClient<T>(_ body: (Session) async throws -> T) async throws -> T {
    let (configuration, options) = try self.resolve()
    let client: TallyClient
    do {
      client = try TallyClient(configuration: configuration)
    } catch {
      // The one input TLS reads here is the CA file (a directory or a file that is no PEM, say).
      Output.printError(
        "error: cannot set up TLS with the CA certificate given (--ca-cert, TALLY_CA_CERT or ca_cert): \(error)")
      throw ExitCode.validationFailure
    }
    let host = configuration.host.contains(":") ? "[\(configuration.host)]" : configuration.host
    let session = Session(client: client, options: options, endpoint: "\(host):\(configuration.port)")
    do {
      let result = try await body(session)
      await client.close()
      return result
    } catch let error as RPCError {
      await client.close()
      Self.report(error)
      throw ExitCode.failure
    } catch {
      await client.close()
      throw error
    }
  }

  /// One unary call on a client of its own. With `sendTenant: false`, `--tenant` stays out of the
  /// call header (for requests that name the tenant in a field of their own).
  func unary<Request, Response>(
    _ method: MethodDescriptor<Request, Response>,
    _ request: Request,
    sendTenant: Bool = true
  ) async throws -> Response {
    try await self.withClient { session in
      var options = session.options
      if !sendTenant { options.tenantID = nil }
      return try await session.client.unary(method, request, options: options)
    }
  }

  /// Prints the status, then each field violation on its own line. A message that only lists
  /// the violations (as `RPCError.invalidArgument` writes it) is not printed twice.
  static func report(_ error: RPCError) {
    let listed = error.fieldViolations.map { "\($0.field): \($0.description)" }
    // The message lists the first few violations; with more, it goes on with "; and N more (…)",
    // which is worth printing only when the server sent fewer violations than it found.
    let listing = listed.prefix(RPCError.violationsInMessage).joined(separator: "; ")
    let messageListsThem = !listed.isEmpty && error.message.hasPrefix(listing)
    let count = error.fieldViolations.count
    let message = messageListsThem ? "\(count) bad field\(count == 1 ? "" : "s")" : error.message
    Output.printError("error: \(error.code): \(message)")
    for line in listed { Output.printError("  \(line)") }
    let rest = error.message.dropFirst(listing.count).drop { $0 == ";" || $0 == " " }
    if messageListsThem, !rest.isEmpty, !rest.contains("all in field_violations") {
      Output.printError("  \(rest)")
    }
    // When to try again matters for a busy server or a call still running, not a lost connection.
    if let retryAfter = error.retryAfter, error.code == .resourceExhausted || error.code == .aborted {
      Output.printError("  retry after \(Output.milliseconds(retryAfter))")
    }
  }
}
