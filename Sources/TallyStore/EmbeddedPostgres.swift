import Foundation
import Glibc

/// Anything that stops the embedded cluster from being made, started or stopped: says what failed and what to do.
public struct EmbeddedPostgresError: Error, CustomStringConvertible {
  public var description: String

  public init(_ description: String) {
    self.description = description
  }
}

/// A PostgreSQL cluster of its own in `directory/pg`, made with the system's PostgreSQL programs, for
/// `tallyd dev` and the tests: the server listens on a Unix socket (TCP on 127.0.0.1 only when a port is
/// given), has the two roles of the design (`tally_owner` owns, `tally_app` owns nothing) and the database
/// `tally`. PostgreSQL refuses to run as root, so a root caller runs it as the OS user `postgres`.
public struct EmbeddedPostgres: Sendable {
  /// Where clients reach the cluster: libpq URLs over the Unix socket, one per role.
  public struct Endpoints: Sendable, Hashable {
    public var ownerURL: String
    public var appURL: String
    public var superuserURL: String
    public var socketDirectory: String
    public var port: Int
  }

  /// Names the socket when there is no TCP listener (PostgreSQL needs a port number either way).
  public static let defaultPort = 5432
  /// The bootstrap role initdb makes: superuser, reached only through the socket inside the cluster.
  public static let superuserRole = "tally_superuser"
  /// Runs migrations; owns the database and its schema; not superuser.
  public static let ownerRole = "tally_owner"
  /// What the server connects as: owns nothing, no superuser, no BYPASSRLS, so row-level security holds.
  public static let appRole = "tally_app"
  public static let databaseName = "tally"
  /// The OS user a root caller runs PostgreSQL as (the Debian package creates it).
  static let rootClusterUser = "postgres"
  /// sun_path is 108 bytes with the terminating NUL; PostgreSQL refuses longer socket paths.
  static let maximumSocketPathLength = 107

  /// The absolute path the cluster lives under (`directory/pg`).
  public let directory: String
  /// The TCP port on 127.0.0.1, or nil for the Unix socket only.
  public let port: Int?
  public let binDirectory: String?
  /// False for throwaway clusters: fsync and full-page writes off, which is fast and loses data on a crash.
  public let durable: Bool

  public init(directory: String, port: Int? = nil, binDirectory: String? = nil, durable: Bool = true) {
    self.directory = URL(fileURLWithPath: directory).standardizedFileURL.path
    self.port = port
    self.binDirectory = binDirectory
    self.durable = durable
  }

  var dataDirectory: String { "\(self.directory)/pg" }
  /// initdb writes here and the result is renamed to `pg`, so a half-made cluster never looks like a cluster.
  var stagingDirectory: String { "\(self.directory)/pg.initdb" }
  var logFile: String { "\(self.dataDirectory)/server.log" }
  /// Settings rewritten before every start (postgresql.conf includes it), so a new port or durability applies.
  var settingsFile: String { "\(self.dataDirectory)/tally.conf" }
  var effectivePort: Int { self.port ?? Self.defaultPort }

  /// `directory/pg` when the socket path fits in sun_path, else a short directory under /tmp named by a
  /// hash of the directory, so that the same directory always gets the same socket.
  public var socketDirectory: String {
    let longest = "\(self.dataDirectory)/.s.PGSQL.65535"
    if longest.utf8.count <= Self.maximumSocketPathLength { return self.dataDirectory }
    return "/tmp/tally-pg-\(fnv1a64Hex(self.directory))"
  }

  /// The endpoints this cluster has once started (nothing is checked).
  public var endpoints: Endpoints {
    Endpoints(
      ownerURL: self.url(role: Self.ownerRole),
      appURL: self.url(role: Self.appRole),
      superuserURL: self.url(role: Self.superuserRole),
      socketDirectory: self.socketDirectory,
      port: self.effectivePort
    )
  }

  /// Creates the cluster in directory/pg on first use (initdb), starts it if not running, creates roles and the
  /// database `tally` if missing. Idempotent: a second call on the same directory reuses everything.
  @discardableResult
  public func start() throws -> Endpoints {
    if let port = self.port, !(1...65535).contains(port) {
      throw EmbeddedPostgresError("the PostgreSQL port must be 1...65535, got \(port)")
    }
    try self.createDirectory(self.directory, mode: 0o755, owner: nil)
    return try self.withDirectoryLock {
      let tools = try PostgresPrograms.find(explicit: self.binDirectory, dataDirectory: self.dataDirectory)
      let user = try ClusterUser.current()
      if let user { try self.checkTraversable(self.directory, by: user, tools: tools) }
      if !FileManager.default.fileExists(atPath: "\(self.dataDirectory)/PG_VERSION") {
        try self.initialize(tools: tools, user: user)
      }
      try self.prepareSocketDirectory(user: user)
      var startedHere = false
      switch try self.status(tools: tools, user: user) {
      case .running:
        try self.checkRunningSettings()
      case .stopped:
        try self.writeSettings(user: user)
        try self.startServer(tools: tools, user: user)
        startedHere = true
      }
      do {
        try self.createRolesAndDatabase(tools: tools)
      } catch {
        // A cluster this call started is not left running behind an error nobody will stop it after.
        if startedHere { try? self.stopServer() }
        throw error
      }
      return self.endpoints
    }
  }

  /// Stops the cluster (pg_ctl stop -m fast); no error if not running.
  public func stop() throws {
    guard FileManager.default.fileExists(atPath: self.directory) else { return }
    try self.withDirectoryLock { try self.stopServer() }
  }

  /// Stops and deletes directory/pg (and the socket directory under /tmp, if it has one).
  public func destroy() throws {
    guard FileManager.default.fileExists(atPath: self.directory) else { return }
    try self.withDirectoryLock {
      try self.stopServer()
      for path in [self.dataDirectory, self.stagingDirectory] where FileManager.default.fileExists(atPath: path) {
        try self.remove(path)
      }
      if self.socketDirectory != self.dataDirectory, FileManager.default.fileExists(atPath: self.socketDirectory) {
        try self.remove(self.socketDirectory)
      }
    }
  }

  // MARK: - Steps

  private func initialize(tools: PostgresPrograms, user: ClusterUser?) throws {
    let fileManager = FileManager.default
    if fileManager.fileExists(atPath: self.dataDirectory) {
      let contents = (try? fileManager.contentsOfDirectory(atPath: self.dataDirectory)) ?? []
      guard contents.isEmpty else {
        throw EmbeddedPostgresError(
          "\(self.dataDirectory) exists but holds no PostgreSQL cluster (no PG_VERSION): remove it to start afresh"
        )
      }
      try self.remove(self.dataDirectory)
    }
    if fileManager.fileExists(atPath: self.stagingDirectory) { try self.remove(self.stagingDirectory) }
    // initdb accepts an existing empty directory; made here so a root caller can hand it to `postgres`.
    try self.createDirectory(self.stagingDirectory, mode: 0o700, owner: user)
    let result = try runAsCluster(
      tools.initdb,
      [
        "-D", self.stagingDirectory, "--auth-local=trust", "--auth-host=scram-sha-256", "-U", Self.superuserRole,
        "--encoding=UTF8", "--locale=\(clusterLocale())", "--lc-collate=C",
      ],
      user: user,
      tools: tools
    )
    guard result.status == 0 else {
      try? self.remove(self.stagingDirectory)
      throw EmbeddedPostgresError("initdb failed (exit \(result.status)):\n\(result.combinedOutput)")
    }
    let include = """

      # Added by tallyd: connection, durability and logging settings, rewritten before every start.
      include = 'tally.conf'

      """
    try self.append(include, toFile: "\(self.stagingDirectory)/postgresql.conf")
    guard rename(self.stagingDirectory, self.dataDirectory) == 0 else {
      throw EmbeddedPostgresError(
        "cannot rename \(self.stagingDirectory) to \(self.dataDirectory): \(String(cString: strerror(errno)))"
      )
    }
  }

  /// A socket directory under the world-writable /tmp must be ours: someone else's could intercept connections.
  /// One `mkdir`, which fails if anything holds the name, so that nothing put there between a check
  /// and the creation (a symlink, say) is followed by the `chown`; /tmp's sticky bit keeps it ours after.
  private func prepareSocketDirectory(user: ClusterUser?) throws {
    let path = self.socketDirectory
    guard path != self.dataDirectory else { return }
    let expectedOwner = user?.uid ?? geteuid()
    if mkdir(path, 0o700) == 0 {
      if let user, lchown(path, user.uid, user.gid) != 0 {
        throw EmbeddedPostgresError("cannot give \(path) to \(user.name): \(String(cString: strerror(errno)))")
      }
      return
    }
    guard errno == EEXIST else {
      throw EmbeddedPostgresError("cannot create \(path): \(String(cString: strerror(errno)))")
    }
    var info = stat()
    guard lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFDIR, info.st_uid == expectedOwner,
      info.st_mode & 0o077 == 0
    else {
      throw EmbeddedPostgresError(
        "\(path) (the socket directory for \(self.directory)) is not a directory that only uid \(expectedOwner) "
          + "owns and can open (mode 700): remove it"
      )
    }
  }

  private enum ServerStatus {
    case running
    case stopped
  }

  private func status(tools: PostgresPrograms, user: ClusterUser?) throws -> ServerStatus {
    let result = try runAsCluster(tools.pgCtl, ["status", "-D", self.dataDirectory], user: user, tools: tools)
    switch result.status {
    case 0: return .running
    case 3: return .stopped
    default:
      throw EmbeddedPostgresError(
        "pg_ctl status on \(self.dataDirectory) failed (exit \(result.status)):\n\(result.combinedOutput)"
      )
    }
  }

  /// A running cluster keeps the settings it started with: refuse rather than hand out endpoints that lie.
  private func checkRunningSettings() throws {
    let pidFile = "\(self.dataDirectory)/postmaster.pid"
    guard let text = try? String(contentsOfFile: pidFile, encoding: .utf8) else { return }
    // postmaster.pid: pid, data directory, start time, port, socket directory, listen address, ...
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    guard lines.count >= 6 else { return }
    let runningPort = Int(lines[3].trimmingCharacters(in: .whitespaces))
    let runningSocket = lines[4].trimmingCharacters(in: .whitespaces)
    let runningListen = lines[5].trimmingCharacters(in: .whitespaces)
    let wantedListen = self.port == nil ? "" : "127.0.0.1"
    guard runningPort == self.effectivePort, runningSocket == self.socketDirectory, runningListen == wantedListen
    else {
      throw EmbeddedPostgresError(
        """
        the cluster in \(self.dataDirectory) is already running with port \(runningPort.map(String.init) ?? "?"), \
        socket directory \(runningSocket), TCP \(runningListen.isEmpty ? "off" : runningListen); \
        stop it first (tallyd db stop --data-dir \(self.directory)) to start it with other settings
        """
      )
    }
  }

  private func writeSettings(user: ClusterUser?) throws {
    let socketDirectory = self.socketDirectory.replacingOccurrences(of: "'", with: "''")
    var settings = """
      # Written by tallyd before every start of this cluster; put your own settings in postgresql.conf.
      listen_addresses = '\(self.port == nil ? "" : "127.0.0.1")'
      port = \(self.effectivePort)
      unix_socket_directories = '"\(socketDirectory)"'
      # Tests run many small pools at once: every suspended async test keeps its pool's connections,
      # so a throwaway (test) cluster allows far more than a dev one needs.
      max_connections = \(self.durable ? 200 : 1_000)
      timezone = 'UTC'
      log_timezone = 'UTC'
      log_line_prefix = '%m [%p] %q%u@%d '

      """
    if self.durable {
      settings += "fsync = on\nsynchronous_commit = on\nfull_page_writes = on\n"
      settings += "# Sized to this machine's memory and cores (ClusterMemory, ClusterCores); ALTER SYSTEM overrides.\n"
      settings += ClusterMemory.current().settings + ClusterCores.current().settings
    } else {
      settings += """
        # Throwaway cluster: speed over crash safety.
        fsync = off
        synchronous_commit = off
        full_page_writes = off
        wal_level = minimal
        max_wal_senders = 0

        """
    }
    try settings.write(toFile: self.settingsFile, atomically: true, encoding: .utf8)
    if let user { try self.changeOwner(self.settingsFile, to: user) }
  }

  private func startServer(tools: PostgresPrograms, user: ClusterUser?) throws {
    let result = try runAsCluster(
      tools.pgCtl,
      ["start", "-w", "-t", "60", "-D", self.dataDirectory, "-l", self.logFile],
      user: user,
      tools: tools
    )
    guard result.status == 0 else {
      throw EmbeddedPostgresError(
        """
        PostgreSQL in \(self.dataDirectory) did not start (pg_ctl exit \(result.status)):
        \(result.combinedOutput)
        last lines of \(self.logFile):
        \(self.logTail(lines: 20))
        """
      )
    }
  }

  private func stopServer() throws {
    // A running server always has postmaster.pid: without it there is nothing to stop, and no need for pg_ctl.
    guard FileManager.default.fileExists(atPath: "\(self.dataDirectory)/postmaster.pid") else { return }
    let tools = try PostgresPrograms.find(explicit: self.binDirectory, dataDirectory: self.dataDirectory)
    let user = try ClusterUser.current()
    guard try self.status(tools: tools, user: user) == .running else { return }
    let result = try runAsCluster(
      tools.pgCtl,
      ["stop", "-D", self.dataDirectory, "-m", "fast", "-w", "-t", "60"],
      user: user,
      tools: tools
    )
    guard result.status == 0 else {
      throw EmbeddedPostgresError(
        "pg_ctl stop on \(self.dataDirectory) failed (exit \(result.status)):\n\(result.combinedOutput)"
      )
    }
  }

  /// Run on every start: it is idempotent, and it puts back the attributes the security model relies on.
  private func createRolesAndDatabase(tools: PostgresPrograms) throws {
    let owner = Self.ownerRole
    let app = Self.appRole
    let database = Self.databaseName
    let attributes = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"
    let script = """
      DO $$
      BEGIN
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '\(owner)') THEN
          CREATE ROLE \(owner);
        END IF;
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '\(app)') THEN
          CREATE ROLE \(app);
        END IF;
      END
      $$;
      ALTER ROLE \(owner) WITH \(attributes);
      ALTER ROLE \(app) WITH \(attributes);
      SELECT 'CREATE DATABASE \(database) OWNER \(owner)'
        WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_database WHERE datname = '\(database)') \\gexec
      ALTER DATABASE \(database) OWNER TO \(owner);
      REVOKE ALL ON DATABASE \(database) FROM PUBLIC;
      GRANT CONNECT, TEMPORARY ON DATABASE \(database) TO \(app);
      \\connect \(database)
      REVOKE CREATE ON SCHEMA public FROM PUBLIC;
      ALTER SCHEMA public OWNER TO \(owner);
      GRANT USAGE ON SCHEMA public TO \(app);

      """
    let result = try runCommand(
      tools.psql,
      [
        "-X", "-q", "-h", self.socketDirectory, "-p", String(self.effectivePort), "-U", Self.superuserRole, "-d",
        "postgres", "-v", "ON_ERROR_STOP=1", "-f", "-",
      ],
      input: script
    )
    guard result.status == 0 else {
      throw EmbeddedPostgresError(
        "creating the roles and the database \(database) failed (psql exit \(result.status)):\n\(result.combinedOutput)"
      )
    }
  }

  // MARK: - Helpers

  private func url(role: String) -> String {
    "postgresql://\(role)@/\(Self.databaseName)?host=\(percentEncoded(self.socketDirectory))&port=\(self.effectivePort)"
  }

  /// `postgres` must reach the data directory through every parent; say which parent stops it, not just "denied".
  private func checkTraversable(_ path: String, by user: ClusterUser, tools: PostgresPrograms) throws {
    func traversable(_ path: String) throws -> Bool {
      try runCommand(tools.runuser(), ["-u", user.name, "--", "test", "-x", path]).status == 0
    }
    guard try !traversable(path) else { return }
    var prefix = ""
    for component in path.split(separator: "/") {
      prefix += "/\(component)"
      guard try !traversable(prefix) else { continue }
      let attributes = try? FileManager.default.attributesOfItem(atPath: prefix)
      let mode = (attributes?[.posixPermissions] as? NSNumber).map { String($0.intValue, radix: 8) } ?? "?"
      let owner = attributes?[.ownerAccountName] as? String ?? "?"
      throw EmbeddedPostgresError(
        """
        PostgreSQL runs as the OS user \(user.name) (it refuses to run as root), and \(user.name) cannot enter \
        \(prefix) (mode \(mode), owner \(owner)) on the way to \(path): choose a data directory that every user \
        can traverse, or run `chmod o+x \(prefix)`
        """
      )
    }
    throw EmbeddedPostgresError("the OS user \(user.name) cannot enter \(path)")
  }

  /// Serializes start, stop and destroy on one directory across threads and processes; the lock goes with
  /// the process, so a crash never leaves it held.
  private func withDirectoryLock<T>(_ body: () throws -> T) throws -> T {
    let descriptor = open(self.directory, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else {
      throw EmbeddedPostgresError("cannot open \(self.directory): \(String(cString: strerror(errno)))")
    }
    defer { close(descriptor) }
    while flock(descriptor, LOCK_EX) != 0 {
      guard errno == EINTR else {
        throw EmbeddedPostgresError("cannot lock \(self.directory): \(String(cString: strerror(errno)))")
      }
    }
    defer { flock(descriptor, LOCK_UN) }
    return try body()
  }

  private func createDirectory(_ path: String, mode: Int, owner: ClusterUser?) throws {
    do {
      if !FileManager.default.fileExists(atPath: path) {
        try FileManager.default.createDirectory(
          atPath: path,
          withIntermediateDirectories: true,
          attributes: [.posixPermissions: mode]
        )
      }
    } catch {
      throw EmbeddedPostgresError("cannot create \(path): \(error.localizedDescription)")
    }
    if let owner { try self.changeOwner(path, to: owner) }
  }

  private func changeOwner(_ path: String, to user: ClusterUser) throws {
    guard chown(path, user.uid, user.gid) == 0 else {
      throw EmbeddedPostgresError("cannot give \(path) to \(user.name): \(String(cString: strerror(errno)))")
    }
  }

  private func remove(_ path: String) throws {
    do {
      try FileManager.default.removeItem(atPath: path)
    } catch {
      throw EmbeddedPostgresError("cannot remove \(path): \(error.localizedDescription)")
    }
  }

  private func append(_ text: String, toFile path: String) throws {
    guard let handle = FileHandle(forWritingAtPath: path) else {
      throw EmbeddedPostgresError("cannot open \(path) for writing")
    }
    defer { try? handle.close() }
    do {
      try handle.seekToEnd()
      try handle.write(contentsOf: Data(text.utf8))
    } catch {
      throw EmbeddedPostgresError("cannot append to \(path): \(error.localizedDescription)")
    }
  }

  private func logTail(lines count: Int) -> String {
    guard let text = try? String(contentsOfFile: self.logFile, encoding: .utf8) else {
      return "(no \(self.logFile))"
    }
    return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(count + 1).joined(separator: "\n")
  }
}

/// C.UTF-8 knows UTF-8 characters (for `lower`, `ILIKE`); not every system has it, and C always works.
/// initdb's `--lc-collate=C` sorts the same way (C.UTF-8 sorts by code point), but PostgreSQL 15
/// compares text with `memcmp` only under C or POSIX, which makes every text B-tree write and sort cheaper.
private func clusterLocale() -> String {
  guard let locale = newlocale((1 << LC_CTYPE) | (1 << LC_COLLATE), "C.UTF-8", nil) else { return "C" }
  freelocale(locale)
  return "C.UTF-8"
}

/// A stable hash (Swift's Hasher changes per process), to name the same socket directory on every run.
private func fnv1a64Hex(_ text: String) -> String {
  var hash: UInt64 = 0xcbf2_9ce4_8422_2325
  for byte in text.utf8 {
    hash ^= UInt64(byte)
    hash = hash &* 0x0100_0000_01b3
  }
  return String(hash, radix: 16)
}

/// libpq URIs take the socket directory as a query value; keep `/` readable and escape the rest.
private func percentEncoded(_ text: String) -> String {
  let allowed = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~/")
  return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
}
