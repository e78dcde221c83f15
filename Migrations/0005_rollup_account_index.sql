-- The daily rollups by account and day: the campaign touches of a deal's account in the look-back
-- before it was created (influenced pipeline and accounts, attribution) read a few rows per deal
-- here, where the primary key (day first) made each deal scan every account's rows of 90 days:
-- 3 ms per deal, 1 to 2 s per KPI on a 4,000-account tenant (docs/BENCHMARKS.md). INCLUDE keeps
-- those reads in the index.
CREATE INDEX event_rollup_daily_account ON event_rollup_daily (tenant_id, account_id, day)
  INCLUDE (type, campaign_id, events);
