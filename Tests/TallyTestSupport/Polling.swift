import TallyStore

/// Polls `condition` every `interval` until it holds or `timeout` has passed; its last answer.
/// Throws only if the task is cancelled.
public func waitUntil(
  timeout: Duration = .seconds(10), every interval: Duration = .milliseconds(10), _ condition: () -> Bool
) async throws -> Bool {
  try await waitUntil(timeout: timeout, every: interval, asking: { condition() })
}

/// `waitUntil` for a condition that awaits its answer (a call to a server, say); errors it throws
/// end the wait.
public func waitUntil(
  timeout: Duration = .seconds(10), every interval: Duration = .milliseconds(10),
  asking condition: () async throws -> Bool
) async throws -> Bool {
  let deadline = ContinuousClock.now + timeout
  while ContinuousClock.now < deadline {
    if try await condition() { return true }
    try await Task.sleep(for: interval)
  }
  return try await condition()
}

/// Polls until a session of the database `conninfo` waits for a lock (a row's, an advisory
/// one): whether one did within `timeout`. For tests that hold a lock and race a call against it.
public func waitUntilALockIsAwaited(in conninfo: String, timeout: Duration = .seconds(20)) async throws -> Bool {
  let watcher = try PostgresConnection(conninfo: conninfo)
  return try await waitUntil(timeout: timeout) {
    let rows = try? watcher.query(
      "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'")
    return ((try? rows?.rows[0].require(Int.self, "n")) ?? 0) > 0
  }
}

/// Ends the sessions of `conninfo`'s role that LISTEN on `channel` in its database (a role may end
/// its own backends), as a lost connection would; how many it ended.
public func terminateListeners(on channel: String, in conninfo: String) throws -> Int {
  let connection = try PostgresConnection(conninfo: conninfo)
  defer { connection.close() }
  let ended = try connection.query(
    """
    SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity
    WHERE query = 'LISTEN ' || $1 AND datname = current_database()
    """, [channel])
  return try ended.rows[0].require(Int.self, "n")
}
