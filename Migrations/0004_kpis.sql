-- KPI engine (../shared/design/KPIS.md): tenant settings and the daily rollups dashboards read
-- instead of raw events.
--
-- The rollups are kept by RecordEvents in the transaction that stores the events (so they are
-- exactly as current as the events, never counted twice: only newly claimed event keys go in),
-- and filled here from the events stored before this migration.

CREATE TABLE kpi_settings (
  tenant_id uuid PRIMARY KEY REFERENCES tenants (tenant_id),
  -- Only what the tenant changed; the server applies its defaults to the rest.
  settings jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(settings) = 'object'),
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Per UTC day, event type, account, campaign and asset ('' where the event has none): how many
-- events, their duration and their value. Counts, minutes and per-account sums come from here.
CREATE TABLE event_rollup_daily (
  tenant_id uuid NOT NULL,
  day date NOT NULL,
  type text NOT NULL,
  account_id text NOT NULL,
  campaign_id text NOT NULL,
  asset_id text NOT NULL,
  events bigint NOT NULL CHECK (events > 0),
  seconds bigint NOT NULL CHECK (seconds >= 0),
  value bigint NOT NULL,
  PRIMARY KEY (tenant_id, day, type, account_id, campaign_id, asset_id)
);

-- Per UTC day, event type and contact (with the account and campaign of its events): unique
-- people over any period are the distinct contacts of these rows, without reading raw events.
CREATE TABLE contact_rollup_daily (
  tenant_id uuid NOT NULL,
  day date NOT NULL,
  type text NOT NULL,
  contact_id text NOT NULL,
  account_id text NOT NULL,
  campaign_id text NOT NULL,
  events bigint NOT NULL CHECK (events > 0),
  PRIMARY KEY (tenant_id, day, type, contact_id, account_id, campaign_id)
);

ALTER TABLE kpi_settings ENABLE ROW LEVEL SECURITY;
ALTER TABLE kpi_settings FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON kpi_settings
  USING (tenant_id = (SELECT nullif(current_setting('tally.tenant_id', true), '')::uuid));
ALTER TABLE event_rollup_daily ENABLE ROW LEVEL SECURITY;
ALTER TABLE event_rollup_daily FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON event_rollup_daily
  USING (tenant_id = (SELECT nullif(current_setting('tally.tenant_id', true), '')::uuid));
ALTER TABLE contact_rollup_daily ENABLE ROW LEVEL SECURITY;
ALTER TABLE contact_rollup_daily FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON contact_rollup_daily
  USING (tenant_id = (SELECT nullif(current_setting('tally.tenant_id', true), '')::uuid));

GRANT SELECT, INSERT, UPDATE ON kpi_settings, event_rollup_daily, contact_rollup_daily TO tally_app;

-- The events stored so far. The migration runs as the owner, which FORCE RLS binds as well, so
-- this reads through a policy of its own for the owner, dropped again at the end.
CREATE POLICY rollup_backfill ON events FOR SELECT TO tally_owner USING (true);
CREATE POLICY rollup_backfill ON event_rollup_daily FOR ALL TO tally_owner USING (true) WITH CHECK (true);
CREATE POLICY rollup_backfill ON contact_rollup_daily FOR ALL TO tally_owner USING (true) WITH CHECK (true);

INSERT INTO event_rollup_daily (tenant_id, day, type, account_id, campaign_id, asset_id, events, seconds, value)
SELECT tenant_id, (occurred_at AT TIME ZONE 'UTC')::date, type, coalesce(account_id, ''), coalesce(campaign_id, ''),
  coalesce(asset_id, ''), count(*), coalesce(sum(duration_seconds), 0), coalesce(sum(value), 0)
FROM events
GROUP BY 1, 2, 3, 4, 5, 6;

INSERT INTO contact_rollup_daily (tenant_id, day, type, contact_id, account_id, campaign_id, events)
SELECT tenant_id, (occurred_at AT TIME ZONE 'UTC')::date, type, contact_id, coalesce(account_id, ''),
  coalesce(campaign_id, ''), count(*)
FROM events
WHERE contact_id IS NOT NULL
GROUP BY 1, 2, 3, 4, 5, 6;

DROP POLICY rollup_backfill ON events;
DROP POLICY rollup_backfill ON event_rollup_daily;
DROP POLICY rollup_backfill ON contact_rollup_daily;
