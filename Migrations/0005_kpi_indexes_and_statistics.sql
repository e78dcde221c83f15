-- The daily rollups by account and day: the campaign touches of a deal's account in the look-back
-- before it was created (influenced pipeline and accounts, attribution) read a few rows per deal
-- here, where the primary key (day first) made each deal scan every account's rows of 90 days:
-- 3 ms per deal, 1 to 2 s per KPI on a 4,000-account tenant (docs/BENCHMARKS.md). INCLUDE keeps
-- those reads in the index.
CREATE INDEX event_rollup_daily_account ON event_rollup_daily (tenant_id, account_id, day)
  INCLUDE (type, campaign_id, events);

-- Statistics sooner after a big import: the KPI plans depend on them (a freshly loaded
-- 4,000-account tenant's dashboard took over 65 s before ANALYZE and 7 s after), and in a large
-- database one tenant's import may never reach autovacuum's default 10 % of a table. ANALYZE
-- samples a fixed number of rows, so analyzing every 2 % (at least 1,000 rows) stays cheap.
DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['event_rollup_daily', 'contact_rollup_daily', 'accounts', 'account_history', 'contacts',
    'campaign_targets', 'opportunities']
  LOOP
    EXECUTE format(
      'ALTER TABLE %I SET (autovacuum_analyze_scale_factor = 0.02, autovacuum_analyze_threshold = 1000)', t);
  END LOOP;
END $$;
