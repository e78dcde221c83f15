-- idempotency_key results are kept 24 hours (IdempotentCalls.retention). A tenant's claim
-- removes its own expired results, but a tenant that stops sending keys would keep its last day's
-- for ever: tallyd's maintenance calls this every hour for every tenant and the operator. The
-- policies let the function's owner see and delete expired rows only, whatever it is asked.
CREATE POLICY expired_results_purge ON call_results FOR SELECT TO tally_owner
  USING (claimed_at < now() - interval '24 hours');
CREATE POLICY expired_results_purge_delete ON call_results FOR DELETE TO tally_owner
  USING (claimed_at < now() - interval '24 hours');
CREATE POLICY expired_results_purge ON operator_call_results FOR SELECT TO tally_owner
  USING (claimed_at < now() - interval '24 hours');
CREATE POLICY expired_results_purge_delete ON operator_call_results FOR DELETE TO tally_owner
  USING (claimed_at < now() - interval '24 hours');

CREATE FUNCTION purge_expired_call_results() RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  WITH tenants AS (DELETE FROM call_results WHERE claimed_at < now() - interval '24 hours' RETURNING 1),
    operator AS (DELETE FROM operator_call_results WHERE claimed_at < now() - interval '24 hours' RETURNING 1)
  SELECT (SELECT count(*) FROM tenants) + (SELECT count(*) FROM operator)
$$;
REVOKE ALL ON FUNCTION purge_expired_call_results() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION purge_expired_call_results() TO tally_app;
