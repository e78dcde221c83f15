-- ABM data: accounts, contacts, campaigns and their targets, costs, opportunities and
-- engagement events. Every key starts with tenant_id (Citus-ready); every table has the same
-- forced row-level-security policy as 0001, without the operator escape: an operator acts on
-- a tenant by naming it, so its calls run with tally.tenant_id set like any tenant key's.
--
-- Enumerations (tier, role, channel, ...) are checked here as well as in the server, so no
-- path can store a value the KPI queries do not know.

CREATE TABLE accounts (
  tenant_id uuid NOT NULL REFERENCES tenants (tenant_id),
  account_id text NOT NULL CHECK (length(account_id) BETWEEN 1 AND 200),
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  domain text,
  industry text,
  employee_count bigint CHECK (employee_count >= 0),
  annual_revenue bigint CHECK (annual_revenue >= 0),
  owner text,
  tier smallint NOT NULL DEFAULT 0 CHECK (tier BETWEEN 0 AND 3),
  in_icp boolean NOT NULL DEFAULT false,
  customer_since timestamptz,
  churned_at timestamptz,
  arr bigint CHECK (arr >= 0),
  attributes jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, account_id)
);
CREATE INDEX accounts_targets ON accounts (tenant_id, tier) WHERE tier > 0;

-- Every change of the fields KPIs read "as of a date" (target tier, ICP, customer status, ARR),
-- so "target accounts in the period" and "starting ARR" need no guessing.
CREATE TABLE account_history (
  tenant_id uuid NOT NULL,
  account_id text NOT NULL,
  changed_at timestamptz NOT NULL,
  tier smallint NOT NULL,
  in_icp boolean NOT NULL,
  customer_since timestamptz,
  churned_at timestamptz,
  arr bigint,
  PRIMARY KEY (tenant_id, account_id, changed_at),
  FOREIGN KEY (tenant_id, account_id) REFERENCES accounts (tenant_id, account_id) ON DELETE CASCADE
);

CREATE FUNCTION record_account_history() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT'
    OR (NEW.tier, NEW.in_icp, NEW.customer_since, NEW.churned_at, NEW.arr)
      IS DISTINCT FROM (OLD.tier, OLD.in_icp, OLD.customer_since, OLD.churned_at, OLD.arr)
  THEN
    INSERT INTO account_history (tenant_id, account_id, changed_at, tier, in_icp, customer_since, churned_at, arr)
    VALUES (NEW.tenant_id, NEW.account_id, clock_timestamp(), NEW.tier, NEW.in_icp, NEW.customer_since,
            NEW.churned_at, NEW.arr);
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER accounts_history AFTER INSERT OR UPDATE ON accounts
  FOR EACH ROW EXECUTE FUNCTION record_account_history();

CREATE TABLE contacts (
  tenant_id uuid NOT NULL,
  contact_id text NOT NULL CHECK (length(contact_id) BETWEEN 1 AND 200),
  account_id text NOT NULL,
  email text,
  name text,
  title text,
  role text NOT NULL DEFAULT 'other'
    CHECK (role IN ('decision_maker', 'champion', 'influencer', 'blocker', 'user', 'other')),
  department text,
  attributes jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, contact_id),
  FOREIGN KEY (tenant_id, account_id) REFERENCES accounts (tenant_id, account_id) ON DELETE CASCADE
);
CREATE INDEX contacts_account ON contacts (tenant_id, account_id);

CREATE TABLE campaigns (
  tenant_id uuid NOT NULL REFERENCES tenants (tenant_id),
  campaign_id text NOT NULL CHECK (length(campaign_id) BETWEEN 1 AND 200),
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  channel text NOT NULL CHECK (
    channel IN ('email', 'ads', 'web', 'content', 'events', 'webinar', 'social', 'direct_mail', 'sales', 'other')
  ),
  starts_at timestamptz NOT NULL,
  ends_at timestamptz CHECK (ends_at >= starts_at),
  budget bigint CHECK (budget >= 0),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, campaign_id)
);

CREATE TABLE campaign_targets (
  tenant_id uuid NOT NULL,
  campaign_id text NOT NULL,
  account_id text NOT NULL,
  added_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, campaign_id, account_id),
  FOREIGN KEY (tenant_id, campaign_id) REFERENCES campaigns (tenant_id, campaign_id) ON DELETE CASCADE,
  FOREIGN KEY (tenant_id, account_id) REFERENCES accounts (tenant_id, account_id) ON DELETE CASCADE
);
CREATE INDEX campaign_targets_account ON campaign_targets (tenant_id, account_id);

CREATE TABLE costs (
  tenant_id uuid NOT NULL REFERENCES tenants (tenant_id),
  cost_id uuid NOT NULL,
  key text CHECK (length(key) BETWEEN 1 AND 200),
  campaign_id text,
  cost_date date NOT NULL,
  amount bigint NOT NULL CHECK (amount >= 0),
  category text NOT NULL
    CHECK (category IN ('media', 'content', 'tools', 'people', 'onboarding', 'support', 'other')),
  note text,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, cost_id),
  UNIQUE (tenant_id, key),
  FOREIGN KEY (tenant_id, campaign_id) REFERENCES campaigns (tenant_id, campaign_id) ON DELETE SET NULL (campaign_id)
);
CREATE INDEX costs_date ON costs (tenant_id, cost_date);

CREATE TABLE opportunities (
  tenant_id uuid NOT NULL,
  opportunity_id text NOT NULL CHECK (length(opportunity_id) BETWEEN 1 AND 200),
  account_id text NOT NULL,
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  amount bigint NOT NULL CHECK (amount >= 0),
  status text NOT NULL CHECK (status IN ('open', 'won', 'lost')),
  stage text,
  type text NOT NULL CHECK (type IN ('new_business', 'expansion', 'renewal')),
  created_at timestamptz NOT NULL,
  closed_at timestamptz CHECK (closed_at >= created_at),
  contract_months integer CHECK (contract_months BETWEEN 1 AND 600),
  accepted_at timestamptz,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, opportunity_id),
  FOREIGN KEY (tenant_id, account_id) REFERENCES accounts (tenant_id, account_id) ON DELETE CASCADE,
  CHECK ((status = 'open') = (closed_at IS NULL))
);
CREATE INDEX opportunities_account ON opportunities (tenant_id, account_id);
CREATE INDEX opportunities_created ON opportunities (tenant_id, created_at);

-- Events: partitioned by month on occurred_at. A unique index on a partitioned table must
-- include the partition key, so idempotency keys live in event_keys beside it.
CREATE TABLE events (
  tenant_id uuid NOT NULL,
  event_key text NOT NULL,
  occurred_at timestamptz NOT NULL,
  type text NOT NULL CHECK (type ~ '^[a-z_]{1,64}$'),
  account_id text,
  contact_id text,
  campaign_id text,
  asset_id text,
  duration_seconds integer CHECK (duration_seconds BETWEEN 0 AND 86400),
  value bigint,
  rep_id text,
  properties jsonb,
  received_at timestamptz NOT NULL DEFAULT now()
) PARTITION BY RANGE (occurred_at);
-- The KPI queries read a tenant's period (by type) or an account's history.
CREATE INDEX events_tenant_time ON events (tenant_id, occurred_at);
CREATE INDEX events_tenant_account ON events (tenant_id, account_id, occurred_at);

CREATE TABLE event_keys (
  tenant_id uuid NOT NULL,
  event_key text NOT NULL,
  occurred_at timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, event_key)
);

-- Creates the missing monthly partitions covering [from_month, to_month]. SECURITY DEFINER
-- so the server's role, which may create nothing, can file events of any month.
CREATE FUNCTION ensure_event_partitions(from_month date, to_month date) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
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
      PERFORM pg_advisory_xact_lock(hashtext(name));
      IF to_regclass(name) IS NULL THEN
        EXECUTE format(
          'CREATE TABLE %I PARTITION OF events FOR VALUES FROM (%L) TO (%L)',
          name, month, (month + interval '1 month')::date
        );
        -- Reads go through the parent, whose policy applies; the partition is fenced as well, in
        -- case it is ever reached directly.
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', name);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', name);
        EXECUTE format(
          'CREATE POLICY tenant_isolation ON %I USING (tenant_id = (SELECT nullif(current_setting(''tally.tenant_id'', true), '''')::uuid))',
          name
        );
        created := created + 1;
      END IF;
    END IF;
    month := (month + interval '1 month')::date;
  END LOOP;
  RETURN created;
END $$;
REVOKE ALL ON FUNCTION ensure_event_partitions(date, date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ensure_event_partitions(date, date) TO tally_app;

-- Two years back and a year ahead now; the server files older months on demand and keeps
-- three months ahead.
SELECT ensure_event_partitions((date_trunc('month', now()) - interval '24 months')::date,
                               (date_trunc('month', now()) + interval '12 months')::date);

DO $$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['accounts', 'account_history', 'contacts', 'campaigns', 'campaign_targets', 'costs',
                           'opportunities', 'events', 'event_keys']
  LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format(
      'CREATE POLICY tenant_isolation ON %I USING (tenant_id = (SELECT nullif(current_setting(''tally.tenant_id'', true), '''')::uuid))',
      t
    );
  END LOOP;
END $$;

GRANT SELECT, INSERT, UPDATE, DELETE ON accounts, contacts, campaigns, campaign_targets, opportunities TO tally_app;
GRANT SELECT, INSERT ON account_history, costs, events, event_keys TO tally_app;
