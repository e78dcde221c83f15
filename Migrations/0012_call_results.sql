-- idempotency_key (docs/PROTOCOL.md): a tenant's write repeated with the key of a finished call
-- gets the first call's response instead of running again, for 24 hours. The key itself is not
-- stored: `call_id` is its SHA-256 (with the tenant), and the response is sealed (AES-GCM) with a
-- key derived from it, so an API key or invitation token in a stored response is readable only
-- by a client that holds the idempotency key (IdempotentCalls.swift).
CREATE TABLE call_results (
  tenant_id uuid NOT NULL REFERENCES tenants (tenant_id),
  call_id bytea NOT NULL CHECK (length(call_id) = 32),
  method text NOT NULL,
  -- HMAC of the request messages and the sealed response: both NULL while the first call runs.
  request_mac bytea,
  sealed_response bytea,
  claimed_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, call_id)
);
-- Each claim first removes its tenant's results older than 24 hours, through this index.
CREATE INDEX call_results_claimed ON call_results (tenant_id, claimed_at);

ALTER TABLE call_results ENABLE ROW LEVEL SECURITY;
ALTER TABLE call_results FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON call_results
  USING (tenant_id = nullif(current_setting('tally.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, UPDATE, DELETE ON call_results TO tally_app;
