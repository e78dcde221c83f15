/// What the server's own database role may do past row-level security. tallyd serves every tenant
/// through one role, and only a role that owns nothing, is no superuser and does not bypass
/// row-level security keeps each tenant to its own rows (the owner role's policies read across
/// tenants for the schedulers: a server connected as it would show any tenant every survey).
public struct RuntimeRole: Sendable, Equatable {
  public var name: String
  public var isSuperuser: Bool
  public var bypassesRowSecurity: Bool
  /// A member of the role that owns the tables (the owner itself, or granted it).
  public var ownsTables: Bool

  public init(name: String, isSuperuser: Bool, bypassesRowSecurity: Bool, ownsTables: Bool) {
    (self.name, self.isSuperuser, self.bypassesRowSecurity) = (name, isSuperuser, bypassesRowSecurity)
    self.ownsTables = ownsTables
  }

  /// The role `connection` acts as (after migrations: `tenants` must exist).
  public init(of connection: PostgresConnection) throws {
    let row = try connection.query(
      """
      SELECT current_user::text AS name, r.rolsuper, r.rolbypassrls,
        pg_has_role(current_user, c.relowner, 'MEMBER') AS owns
      FROM pg_roles r, pg_class c
      WHERE r.rolname = current_user AND c.oid = 'tenants'::regclass
      """
    ).rows[0]
    self.init(
      name: try row.require(String.self, "name"), isSuperuser: try row.require(Bool.self, "rolsuper"),
      bypassesRowSecurity: try row.require(Bool.self, "rolbypassrls"), ownsTables: try row.require(Bool.self, "owns"))
  }

  /// Why this role must not serve tenants, or nil when it may.
  public var refusal: String? {
    let reasons =
      (self.isSuperuser ? ["is a superuser"] : []) + (self.bypassesRowSecurity ? ["bypasses row-level security"] : [])
      + (self.ownsTables ? ["owns the tables (the migrations' role)"] : [])
    guard !reasons.isEmpty else { return nil }
    return "the database role \(self.name) \(reasons.joined(separator: " and ")): row-level security would not keep "
      + "tenants apart; connect the server as the runtime role (deploy/postgres-roles.sql: tally_app)"
  }
}
