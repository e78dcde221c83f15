/// The database's collation (LC_COLLATE). PostgreSQL 15 compares text with `memcmp` only under C or
/// POSIX; under any other, each comparison copies both strings and calls `strcoll`, which slows every
/// text index write and sort (docs/BENCHMARKS.md, "The database's collation").
public struct DatabaseCollation: Sendable, Equatable, CustomStringConvertible {
  public var name: String

  public init(name: String) { self.name = name }

  /// The collation of the database `connection` is connected to.
  public init(of connection: PostgresConnection) throws {
    let rows = try connection.query("SELECT datcollate::text FROM pg_database WHERE datname = current_database()").rows
    self.name = try rows[0].require(String.self, "datcollate")
  }

  public var comparesTextAsBytes: Bool { self.name == "C" || self.name == "POSIX" }

  public var description: String { self.name }
}
