import Foundation
import Glibc

// The programs the embedded cluster runs (initdb, pg_ctl, psql, runuser) and how: found once per
// operation, run as the cluster's OS user when the caller is root, never through Foundation's Process.

/// The PostgreSQL programs used, found once per operation.
struct PostgresPrograms {
  var initdb: String
  var pgCtl: String
  var psql: String

  /// Explicit directory, else the one matching an existing cluster's major version (a newer installed
  /// PostgreSQL cannot start an older cluster), else `pg_config --bindir`, else the newest
  /// /usr/lib/postgresql/N/bin (Debian), else PATH.
  static func find(explicit: String?, dataDirectory: String) throws -> PostgresPrograms {
    var candidates: [String] = []
    if let explicit {
      candidates = [explicit]
    } else {
      if let version = try? String(contentsOfFile: "\(dataDirectory)/PG_VERSION", encoding: .utf8) {
        candidates.append("/usr/lib/postgresql/\(version.trimmingCharacters(in: .whitespacesAndNewlines))/bin")
      }
      if let pgConfig = findInPath("pg_config"),
        let result = try? runCommand(pgConfig, ["--bindir"]), result.status == 0
      {
        candidates.append(result.output.trimmingCharacters(in: .whitespacesAndNewlines))
      }
      let versions = ((try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? [])
        .compactMap(Int.init).sorted(by: >)
      candidates += versions.map { "/usr/lib/postgresql/\($0)/bin" }
      if let initdb = findInPath("initdb") { candidates.append((initdb as NSString).deletingLastPathComponent) }
    }
    guard
      let directory = candidates.first(where: {
        isExecutable("\($0)/initdb") && isExecutable("\($0)/pg_ctl")
      })
    else {
      if let explicit {
        throw EmbeddedPostgresError("\(explicit) holds no initdb and pg_ctl: pass the PostgreSQL bin directory")
      }
      throw EmbeddedPostgresError(
        """
        PostgreSQL's server programs (initdb, pg_ctl) are not installed: install the Debian package \
        `postgresql` (apt-get install postgresql)
        """
      )
    }
    let psql = ["\(directory)/psql", "/usr/bin/psql"].first(where: isExecutable) ?? findInPath("psql")
    guard let psql else {
      throw EmbeddedPostgresError("psql is not installed: install the Debian package `postgresql-client`")
    }
    return PostgresPrograms(initdb: "\(directory)/initdb", pgCtl: "\(directory)/pg_ctl", psql: psql)
  }

  /// util-linux's runuser: su without PAM authentication, made for root running a program as another user.
  func runuser() throws -> String {
    let candidates = ["/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser", "/bin/runuser"]
    guard let path = candidates.first(where: isExecutable) ?? findInPath("runuser") else {
      throw EmbeddedPostgresError(
        "runuser (Debian package util-linux) is needed to run PostgreSQL as \(EmbeddedPostgres.rootClusterUser)"
      )
    }
    return path
  }
}

/// The OS user PostgreSQL runs as when the caller is root; nil means the caller itself.
struct ClusterUser {
  var name: String
  var uid: uid_t
  var gid: gid_t

  static func current() throws -> ClusterUser? {
    guard geteuid() == 0 else { return nil }
    let name = EmbeddedPostgres.rootClusterUser
    var entry = passwd()
    var result: UnsafeMutablePointer<passwd>?
    var buffer = [CChar](repeating: 0, count: 16_384)
    let status = getpwnam_r(name, &entry, &buffer, buffer.count, &result)
    guard status == 0, result != nil else {
      throw EmbeddedPostgresError(
        """
        PostgreSQL refuses to run as root, and there is no OS user `\(name)` to run it as: install the Debian \
        package `postgresql` (it creates that user), or run as a user other than root
        """
      )
    }
    return ClusterUser(name: name, uid: entry.pw_uid, gid: entry.pw_gid)
  }
}

struct CommandResult {
  var status: Int32
  var output: String
  var errorOutput: String

  var combinedOutput: String {
    [self.output, self.errorOutput].filter { !$0.isEmpty }.joined(separator: "\n")
      .trimmingCharacters(in: .whitespacesAndNewlines)
  }
}

func runAsCluster(
  _ executable: String,
  _ arguments: [String],
  user: ClusterUser?,
  tools: PostgresPrograms
) throws -> CommandResult {
  guard let user else { return try runCommand(executable, arguments) }
  return try runCommand(try tools.runuser(), ["-u", user.name, "--", executable] + arguments)
}

/// Runs a program to completion. Not with Foundation's Process: it learns that a child ended when a socket it
/// hands to the child closes, the postmaster that pg_ctl leaves behind inherits that socket, and so `pg_ctl start`
/// would seem to run until the server stops. Here the child keeps only stdin, stdout and stderr (closefrom), and
/// output goes to temporary files rather than pipes, so nothing the postmaster keeps can hold up a reader.
func runCommand(_ executable: String, _ arguments: [String], input: String? = nil) throws -> CommandResult {
  let fileManager = FileManager.default
  let base = "\(fileManager.temporaryDirectory.path)/tally-embedded-pg-\(UUID().uuidString)"
  let paths = (input: "\(base).in", output: "\(base).out", error: "\(base).err")
  defer {
    for path in [paths.input, paths.output, paths.error] { try? fileManager.removeItem(atPath: path) }
  }
  guard fileManager.createFile(atPath: paths.input, contents: Data((input ?? "").utf8)) else {
    throw EmbeddedPostgresError("cannot create temporary files in \(fileManager.temporaryDirectory.path)")
  }
  let inputDescriptor = open(paths.input, O_RDONLY | O_CLOEXEC)
  defer { if inputDescriptor >= 0 { close(inputDescriptor) } }
  let outputDescriptor = open(paths.output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
  defer { if outputDescriptor >= 0 { close(outputDescriptor) } }
  let errorDescriptor = open(paths.error, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
  defer { if errorDescriptor >= 0 { close(errorDescriptor) } }
  guard inputDescriptor >= 0, outputDescriptor >= 0, errorDescriptor >= 0 else {
    throw EmbeddedPostgresError("cannot open temporary files in \(fileManager.temporaryDirectory.path)")
  }

  var actions = posix_spawn_file_actions_t()
  posix_spawn_file_actions_init(&actions)
  defer { posix_spawn_file_actions_destroy(&actions) }
  posix_spawn_file_actions_adddup2(&actions, inputDescriptor, 0)
  posix_spawn_file_actions_adddup2(&actions, outputDescriptor, 1)
  posix_spawn_file_actions_adddup2(&actions, errorDescriptor, 2)
  try closeInheritedDescriptors(&actions)
  // `/` so that a user who cannot enter the caller's working directory can still run (initdb checks it).
  _ = gnuSpawnExtensions.addChdir?(&actions, "/")

  // The caller (Swift runtime, NIO) may ignore SIGPIPE or block signals; the children get the defaults.
  var attributes = posix_spawnattr_t()
  posix_spawnattr_init(&attributes)
  defer { posix_spawnattr_destroy(&attributes) }
  var noSignals = sigset_t()
  sigemptyset(&noSignals)
  posix_spawnattr_setsigmask(&attributes, &noSignals)
  var defaultSignals = sigset_t()
  sigemptyset(&defaultSignals)
  sigaddset(&defaultSignals, SIGPIPE)
  posix_spawnattr_setsigdefault(&attributes, &defaultSignals)
  posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

  // PG* variables from the caller's shell could point libpq or pg_ctl at another server.
  let environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("PG") }.map {
    "\($0.key)=\($0.value)"
  }
  let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
  let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup($0) } + [nil]
  defer {
    for pointer in argv + envp { free(pointer) }
  }
  var pid = pid_t()
  let spawned = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
  guard spawned == 0 else {
    throw EmbeddedPostgresError("cannot run \(executable): \(String(cString: strerror(spawned)))")
  }
  var waitStatus: Int32 = 0
  while waitpid(pid, &waitStatus, 0) < 0 {
    guard errno == EINTR else {
      throw EmbeddedPostgresError("cannot wait for \(executable): \(String(cString: strerror(errno)))")
    }
  }
  // WIFEXITED / WEXITSTATUS are macros Swift does not import; a signal reads as 128 + its number, as in a shell.
  let signal = waitStatus & 0x7f
  let status = signal == 0 ? (waitStatus >> 8) & 0xff : 128 + signal
  return CommandResult(
    status: status,
    output: (try? String(contentsOfFile: paths.output, encoding: .utf8)) ?? "",
    errorOutput: (try? String(contentsOfFile: paths.error, encoding: .utf8)) ?? ""
  )
}

/// glibc's `_np` spawn actions, which Swift's Glibc module leaves out (they need _GNU_SOURCE): found at run time.
private struct GNUSpawnExtensions: Sendable {
  typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32
  typealias AddChdir =
    @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, UnsafePointer<CChar>?) -> Int32

  var addCloseFrom: AddCloseFrom?
  var addChdir: AddChdir?

  init() {
    let handle = dlopen(nil, RTLD_NOW)
    self.addCloseFrom = dlsym(handle, "posix_spawn_file_actions_addclosefrom_np").map {
      unsafeBitCast($0, to: AddCloseFrom.self)
    }
    self.addChdir = dlsym(handle, "posix_spawn_file_actions_addchdir_np").map { unsafeBitCast($0, to: AddChdir.self) }
  }
}

private let gnuSpawnExtensions = GNUSpawnExtensions()

/// Every descriptor from 3 up is closed in the child: glibc 2.34+ does it in one action; older ones get one
/// close per descriptor open now (closing one that is gone by then is not an error for posix_spawn).
private func closeInheritedDescriptors(_ actions: inout posix_spawn_file_actions_t) throws {
  if let addCloseFrom = gnuSpawnExtensions.addCloseFrom {
    guard addCloseFrom(&actions, 3) == 0 else { throw EmbeddedPostgresError("posix_spawn closefrom failed") }
    return
  }
  let open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
  for descriptor in open.compactMap({ Int32($0) }) where descriptor > 2 {
    posix_spawn_file_actions_addclose(&actions, descriptor)
  }
}

func isExecutable(_ path: String) -> Bool {
  FileManager.default.isExecutableFile(atPath: path)
}

func findInPath(_ name: String) -> String? {
  let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
  return path.split(separator: ":").map { "\($0)/\(name)" }.first(where: isExecutable)
}
