-- idempotency_key: a claim taken over (its call neither wrote nor answered for 15 minutes) gets a
-- new claim_id, and each write transaction of a call marks its claim only under the claim_id it
-- claimed with. A first call that stalled and comes back after a repeat took its key over finds
-- no claim of its own: its transaction fails (SQLSTATE TY001, ABORTED to the client) instead of
-- writing a second time beside the repeat, and its release and stored answer touch nothing of
-- the repeat's. The one-argument function stays for a tallyd of the version before.
ALTER TABLE call_results ADD COLUMN claim_id uuid NOT NULL DEFAULT gen_random_uuid();
ALTER TABLE operator_call_results ADD COLUMN claim_id uuid NOT NULL DEFAULT gen_random_uuid();

CREATE FUNCTION mark_call_wrote(claim_tenant uuid, claim uuid) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
  IF claim_tenant IS NOT NULL THEN
    UPDATE call_results SET wrote_at = now()
      WHERE tenant_id = claim_tenant AND call_id = decode(current_setting('tally.call_id'), 'hex')
        AND claim_id = claim;
  ELSE
    UPDATE operator_call_results SET wrote_at = now()
      WHERE call_id = decode(current_setting('tally.call_id'), 'hex') AND claim_id = claim;
  END IF;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'the call''s idempotency claim was taken over by a repeat' USING ERRCODE = 'TY001';
  END IF;
END
$$;
REVOKE ALL ON FUNCTION mark_call_wrote(uuid, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION mark_call_wrote(uuid, uuid) TO tally_app;
