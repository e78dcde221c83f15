-- The rep activity KPIs read only events with a rep (dials, sales emails, tasks, conversations,
-- meetings: a few percent of a feed). This partial index holds just those, with the columns the
-- queries read, so a period's rep activity is an index-only scan of its rep events instead of a
-- read of every event in the period (docs/BENCHMARKS.md). Events without a rep never enter it.
CREATE INDEX events_rep_activity ON events (tenant_id, occurred_at) INCLUDE (rep_id, type, account_id, campaign_id)
  WHERE rep_id IS NOT NULL;
