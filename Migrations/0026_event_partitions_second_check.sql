-- Two callers that make the same month at once (two RecordEvents streams backfilling a month
-- that has no partition yet, say): the second waited for the first's advisory lock, then checked
-- again with to_regclass, which answered from the "not found" its first check left in the
-- session's catalog cache; its CREATE TABLE then failed with 42P07 and the stream with INTERNAL.
-- The second check now reads pg_class with the statement's own snapshot, which sees the first
-- caller's committed table. Otherwise as in 0025.
CREATE OR REPLACE FUNCTION ensure_event_partitions(from_month date, to_month date) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp SET TimeZone = 'UTC' AS $$
DECLARE
  month date := date_trunc('month', from_month);
  created integer := 0;
  name text;
BEGIN
  IF from_month < DATE '2000-01-01' OR to_month > DATE '2200-01-01' OR to_month - from_month > 3660 THEN
    RAISE EXCEPTION 'partition range % to % is out of bounds', from_month, to_month
      USING ERRCODE = '22023';
  END IF;
  WHILE month <= to_month LOOP
    name := 'events_' || to_char(month, 'YYYY_MM');
    IF to_regclass(name) IS NULL THEN
      PERFORM pg_advisory_xact_lock(hashtext('ensure_event_partitions'));
      -- Read from pg_class, not to_regclass: the lookup above left a "no such table" in this
      -- session's catalog cache, which the advisory lock does not refresh.
      IF NOT EXISTS (SELECT FROM pg_class WHERE relname = name AND relnamespace = 'public'::regnamespace) THEN
        EXECUTE format('CREATE TABLE %I (LIKE events INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', name);
        -- Fenced before it is attached: reads go through the parent, whose policy applies, and the
        -- partition's own policy holds in case it is ever reached directly.
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', name);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', name);
        EXECUTE format(
          'CREATE POLICY tenant_isolation ON %I USING (tenant_id = (SELECT nullif(current_setting(''tally.tenant_id'', true), '''')::uuid))',
          name
        );
        EXECUTE format(
          'ALTER TABLE events ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
          name, month::timestamptz, (month + interval '1 month')::date::timestamptz
        );
        created := created + 1;
      END IF;
    END IF;
    month := (month + interval '1 month')::date;
  END LOOP;
  RETURN created;
END $$;
