-- idempotency_key for the operator's own writes, which act on no tenant (CreateTenant,
-- SuspendTenant, ResumeTenant, and CreateApiKey / RevokeApiKey naming the tenant in the request):
-- kept as call_results keeps a tenant's, in a table only the operator's transactions see.
CREATE TABLE operator_call_results (
  call_id bytea PRIMARY KEY CHECK (length(call_id) = 32),
  method text NOT NULL,
  request_mac bytea,
  sealed_response bytea,
  claimed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX operator_call_results_claimed ON operator_call_results (claimed_at);

ALTER TABLE operator_call_results ENABLE ROW LEVEL SECURITY;
ALTER TABLE operator_call_results FORCE ROW LEVEL SECURITY;
CREATE POLICY operator_only ON operator_call_results
  USING ((SELECT current_setting('tally.operator', true)) = 'on');
GRANT SELECT, INSERT, UPDATE, DELETE ON operator_call_results TO tally_app;
