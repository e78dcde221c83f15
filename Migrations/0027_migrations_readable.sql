-- The runtime role reads which migrations the database has, so that a tallyd started without
-- migrating (no owner URL, or --no-migrate) still refuses a schema other than its own: newer
-- (a rolled-back binary would write rows the newer schema does not expect) or older (its
-- statements would fail on what is missing). Only the versions and names: nothing of a tenant.
GRANT SELECT ON tally_migrations TO tally_app;
