-- A month's event partition is made as a table of its own, then attached. `CREATE TABLE ...
-- PARTITION OF events` takes an ACCESS EXCLUSIVE lock on `events` until its transaction ends:
-- it waited behind every running read of the events (a dashboard, a listing) while every later
-- read and write of every tenant queued behind it, and two batches that each made two old
-- months could deadlock (each held `events`, then waited for the other's month lock). `ATTACH
-- PARTITION` takes SHARE UPDATE EXCLUSIVE, which reads and writes do not wait for, and creates
-- the partition's indexes from the parent's. One lock for every month made, taken before any
-- partition lock, orders the makers so that none waits for another in a circle. The bounds are
-- UTC days whatever the caller's time zone.
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
      IF to_regclass(name) IS NULL THEN
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
