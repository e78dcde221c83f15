-- The tenant policies say `tenant_id = nullif(current_setting('tally.tenant_id', true), '')::uuid`
-- instead of comparing with a sub-SELECT of it. The sub-SELECT is evaluated once, but the planner
-- cannot look into it and took every tenant for the average one: on the 10M-event benchmark set
-- (1,000 tenants, the largest with 20 % of the rows) that planned nested loops of 58 million
-- join-filter tests for the largest tenant's dashboard (docs/BENCHMARKS.md). current_setting is
-- STABLE: the planner folds it while estimating, and an index scan evaluates it once. Same
-- predicate, same isolation. The operator-aware policies of tenants and api_keys, and the monthly
-- event partitions (read only through their parent), keep their form.
DO $$
DECLARE
  p record;
BEGIN
  FOR p IN
    SELECT pol.schemaname, pol.tablename FROM pg_policies pol
    JOIN pg_class c ON c.relname = pol.tablename
    JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = pol.schemaname
    WHERE pol.policyname = 'tenant_isolation' AND NOT c.relispartition
      AND pol.qual LIKE '%SELECT (NULLIF(current_setting(''tally.tenant_id''%' AND pol.qual NOT LIKE '%tally.operator%'
  LOOP
    EXECUTE format(
      'ALTER POLICY tenant_isolation ON %I.%I USING (tenant_id = nullif(current_setting(''tally.tenant_id'', true), '''')::uuid)',
      p.schemaname, p.tablename);
  END LOOP;
END $$;
