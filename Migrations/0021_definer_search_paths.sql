-- A SECURITY DEFINER function runs as its owner. With pg_temp left out of its search_path,
-- PostgreSQL searches the session's temporary schema first for tables, so a role that may create
-- temporary tables (the runtime role may) could shadow `surveys` or `call_results` with a table
-- of its own, and its triggers would run as the owner. Named last, pg_temp is searched last.
ALTER FUNCTION pulse_surveys_with_cadence() SET search_path = pg_catalog, public, pg_temp;
ALTER FUNCTION tenants_with_sealed_answers_due(timestamptz) SET search_path = pg_catalog, public, pg_temp;
ALTER FUNCTION purge_expired_call_results() SET search_path = pg_catalog, public, pg_temp;
