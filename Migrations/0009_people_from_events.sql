-- Unique-people KPIs read the events themselves instead of contact_rollup_daily. That rollup
-- kept a row per (day, type, contact, account, campaign): 1.07 events a row in the seeded data,
-- a second copy of the events that every RecordEvents batch paid for with a heap and a B-tree
-- write per event (docs/BENCHMARKS.md). The events' time index now carries the columns those
-- queries read, so they stay index-only scans.
DROP INDEX events_tenant_time;
CREATE INDEX events_tenant_time ON events (tenant_id, occurred_at) INCLUDE (type, contact_id, account_id, campaign_id);
DROP TABLE contact_rollup_daily;
