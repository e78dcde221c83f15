-- The runtime role learns which migration the database ends at, so that a tallyd started without
-- migrating (no owner URL, or --no-migrate) still refuses a schema other than its own: newer (a
-- rolled-back binary would write rows the newer schema does not expect) or older (its statements
-- would fail on what is missing). A function, not a grant on tally_migrations: every table the
-- runtime role reads without a tenant stays the operator's alone (RowLevelSecurityTests).
CREATE FUNCTION tally_last_migration(OUT version integer, OUT name text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT version, name FROM tally_migrations ORDER BY version DESC LIMIT 1
$$;
REVOKE ALL ON FUNCTION tally_last_migration() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tally_last_migration() TO tally_app;
