-- idempotency_key: every read-write transaction of a call with a key marks the call's claim in
-- that same transaction (TransactionMark, IdempotentCalls.swift), so the mark commits exactly when
-- one of the call's writes does. A claim with the mark is never taken over, even when its response
-- was not stored (the server stopped in between): a repeat must not run committed writes twice.
-- The mark is the time of the call's last write, so that a call that still writes (a long stream)
-- is not taken for one whose server stopped.
ALTER TABLE call_results ADD COLUMN wrote_at timestamptz;
ALTER TABLE operator_call_results ADD COLUMN wrote_at timestamptz;

-- A call's transaction may act in another scope than its claim (an operator's CreateApiKey writes
-- in the tenant's scope), where the runtime role cannot see the claim. This function marks it as
-- the owner, whose policies admit only the claim named by the transaction's tally.call_id (a
-- SHA-256 that only the idempotency key's holder can give rise to). The tenant names
-- call_results' row; NULL names the operator's.
CREATE POLICY own_claim ON call_results FOR SELECT TO tally_owner
  USING (call_id = decode(nullif(current_setting('tally.call_id', true), ''), 'hex'));
CREATE POLICY own_claim_mark ON call_results FOR UPDATE TO tally_owner
  USING (call_id = decode(nullif(current_setting('tally.call_id', true), ''), 'hex'));
CREATE POLICY own_claim ON operator_call_results FOR SELECT TO tally_owner
  USING (call_id = decode(nullif(current_setting('tally.call_id', true), ''), 'hex'));
CREATE POLICY own_claim_mark ON operator_call_results FOR UPDATE TO tally_owner
  USING (call_id = decode(nullif(current_setting('tally.call_id', true), ''), 'hex'));

CREATE FUNCTION mark_call_wrote(claim_tenant uuid) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
  UPDATE call_results SET wrote_at = now()
    WHERE claim_tenant IS NOT NULL AND tenant_id = claim_tenant
      AND call_id = decode(current_setting('tally.call_id'), 'hex');
  UPDATE operator_call_results SET wrote_at = now()
    WHERE claim_tenant IS NULL AND call_id = decode(current_setting('tally.call_id'), 'hex');
$$;
REVOKE ALL ON FUNCTION mark_call_wrote(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION mark_call_wrote(uuid) TO tally_app;
