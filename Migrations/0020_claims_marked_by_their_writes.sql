-- idempotency_key: every read-write transaction of a call with a key marks the call's claim in
-- that same transaction (TransactionMark, IdempotentCalls.swift), so the mark commits exactly when
-- one of the call's writes does. A claim with the mark is never taken over, even when its response
-- was not stored (the server stopped in between): a repeat must not run committed writes twice.
ALTER TABLE call_results ADD COLUMN wrote boolean NOT NULL DEFAULT false;
ALTER TABLE operator_call_results ADD COLUMN wrote boolean NOT NULL DEFAULT false;

-- A call's transaction may act in another scope than its claim (an operator's CreateApiKey writes
-- in the tenant's scope, a new month's partition in none), where the runtime role cannot see the
-- claim. This function marks it as the owner, whose policies admit only the claim named by the
-- transaction's tally.call_id (a SHA-256 that only the idempotency key's holder can give rise to).
-- The tenant names call_results' row; NULL names the operator's.
CREATE POLICY own_claim ON call_results FOR SELECT TO tally_owner
  USING (call_id = decode(nullif(current_setting('tally.call_id', true), ''), 'hex'));
CREATE POLICY own_claim_mark ON call_results FOR UPDATE TO tally_owner
  USING (call_id = decode(nullif(current_setting('tally.call_id', true), ''), 'hex'));
CREATE POLICY own_claim ON operator_call_results FOR SELECT TO tally_owner
  USING (call_id = decode(nullif(current_setting('tally.call_id', true), ''), 'hex'));
CREATE POLICY own_claim_mark ON operator_call_results FOR UPDATE TO tally_owner
  USING (call_id = decode(nullif(current_setting('tally.call_id', true), ''), 'hex'));

CREATE FUNCTION mark_call_wrote(claim_tenant uuid) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  UPDATE call_results SET wrote = true
    WHERE claim_tenant IS NOT NULL AND tenant_id = claim_tenant
      AND call_id = decode(current_setting('tally.call_id'), 'hex');
  UPDATE operator_call_results SET wrote = true
    WHERE claim_tenant IS NULL AND call_id = decode(current_setting('tally.call_id'), 'hex');
$$;
REVOKE ALL ON FUNCTION mark_call_wrote(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION mark_call_wrote(uuid) TO tally_app;
