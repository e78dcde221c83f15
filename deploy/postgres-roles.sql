-- PostgreSQL set-up for tallyd, run once by a superuser (psql -f deploy/postgres-roles.sql).
-- tallyd dev and make test do the same for their embedded clusters
-- (Sources/TallyStore/EmbeddedPostgres.swift).
--
-- tally_owner owns the database and runs migrations (tallyd migrate, or tallyd serve with
-- database.owner_url). tally_app is what the server connects as for every call: it owns
-- nothing, is not superuser and has no BYPASSRLS, so row-level security always applies.
-- Set passwords (ALTER ROLE … PASSWORD …) or use peer/cert authentication in pg_hba.conf.

CREATE ROLE tally_owner LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;
CREATE ROLE tally_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
-- LC_COLLATE 'C': PostgreSQL compares text byte by byte only under C (or POSIX), which makes
-- every text index write and sort cheaper; UTF-8 text then sorts by code point. template0,
-- because a database whose collation differs from template1's must be copied from it.
CREATE DATABASE tally OWNER tally_owner ENCODING 'UTF8' LC_COLLATE 'C' TEMPLATE template0;
REVOKE ALL ON DATABASE tally FROM PUBLIC;
-- TEMPORARY: bulk loads COPY into a session-local staging table, then INSERT … SELECT, because
-- PostgreSQL refuses COPY FROM into a table whose row-level security applies to the role.
GRANT CONNECT, TEMPORARY ON DATABASE tally TO tally_app;
\connect tally
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
ALTER SCHEMA public OWNER TO tally_owner;
GRANT USAGE ON SCHEMA public TO tally_app;
