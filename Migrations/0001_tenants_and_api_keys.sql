-- Tenants and API keys. Runs as tally_owner; the server connects as tally_app, which owns
-- nothing, is not superuser, has no BYPASSRLS, and gets only the grants below.
--
-- Row-level security reads two settings, each through a scalar sub-select so it is
-- evaluated once per statement: tally.tenant_id (set by every tenant-scoped transaction)
-- and tally.operator ('on' only in the server's operator and authentication paths).

CREATE TABLE tenants (
  tenant_id uuid PRIMARY KEY,
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  currency char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
  created_at timestamptz NOT NULL DEFAULT now(),
  suspended_at timestamptz
);

-- Operator keys have no tenant: they live in their own table, outside every tenant's rows.
CREATE TABLE operator_api_keys (
  key_id text PRIMARY KEY CHECK (key_id ~ '^[a-z0-9]{1,64}$'),
  name text NOT NULL,
  secret_sha256 bytea NOT NULL CHECK (length(secret_sha256) = 32),
  created_at timestamptz NOT NULL DEFAULT now(),
  revoked_at timestamptz
);

CREATE TABLE api_keys (
  tenant_id uuid NOT NULL REFERENCES tenants (tenant_id),
  key_id text NOT NULL CHECK (key_id ~ '^[a-z0-9]{1,64}$'),
  name text NOT NULL,
  scopes text[] NOT NULL CHECK (scopes <@ ARRAY['admin', 'write', 'read', 'collect'] AND cardinality(scopes) > 0),
  secret_sha256 bytea NOT NULL CHECK (length(secret_sha256) = 32),
  created_at timestamptz NOT NULL DEFAULT now(),
  revoked_at timestamptz,
  PRIMARY KEY (tenant_id, key_id)
);
-- Key ids are unique across tenants, so HELLO can find a key by its id alone.
CREATE UNIQUE INDEX api_keys_key_id ON api_keys (key_id);

ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenants
  USING (
    tenant_id = (SELECT nullif(current_setting('tally.tenant_id', true), '')::uuid)
    OR (SELECT current_setting('tally.operator', true)) = 'on'
  );

ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON api_keys
  USING (
    tenant_id = (SELECT nullif(current_setting('tally.tenant_id', true), '')::uuid)
    OR (SELECT current_setting('tally.operator', true)) = 'on'
  );

ALTER TABLE operator_api_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE operator_api_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY operator_only ON operator_api_keys
  USING ((SELECT current_setting('tally.operator', true)) = 'on');

GRANT SELECT, INSERT, UPDATE ON tenants, api_keys, operator_api_keys TO tally_app;
