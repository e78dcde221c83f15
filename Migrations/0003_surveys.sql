-- Surveys: customer NPS, employee NPS and pulse surveys (../shared/design/SURVEYS.md).
--
-- Anonymity is in the schema: survey_responses has no column that leads back to a person (no
-- token, contact, invitation or time); an identified NPS answer's contact, account and time
-- live in survey_response_identities, which a trigger keeps empty for anonymous surveys. The
-- used invitation is a flag in survey_invitations, with nothing that links it to the response.

CREATE TABLE surveys (
  tenant_id uuid NOT NULL REFERENCES tenants (tenant_id),
  survey_id uuid NOT NULL DEFAULT gen_random_uuid(),
  kind text NOT NULL CHECK (kind IN ('nps', 'enps', 'pulse')),
  title text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
  questions jsonb NOT NULL,
  anonymous boolean NOT NULL,
  anonymity_threshold smallint NOT NULL CHECK (anonymity_threshold = 0 OR anonymity_threshold >= 3),
  cadence text CHECK (cadence IN ('weekly', 'biweekly', 'monthly', 'quarterly')),
  cadence_open_day smallint,
  cadence_open_days smallint,
  -- The first day a scheduled round may open (biweekly rounds count their fortnights from it).
  cadence_anchor date,
  archived_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, survey_id),
  CHECK ((kind = 'pulse') = (cadence IS NOT NULL)),
  CHECK (kind = 'nps' OR anonymous),
  CHECK (NOT anonymous OR anonymity_threshold >= 3)
);
CREATE INDEX surveys_created ON surveys (tenant_id, created_at, survey_id);

CREATE TABLE survey_rounds (
  tenant_id uuid NOT NULL,
  round_id uuid NOT NULL DEFAULT gen_random_uuid(),
  survey_id uuid NOT NULL,
  number integer NOT NULL CHECK (number >= 1),
  opens_at timestamptz NOT NULL,
  closes_at timestamptz CHECK (closes_at > opens_at),
  -- The cadence period a scheduled round belongs to; NULL for rounds opened by hand.
  period_start date,
  PRIMARY KEY (tenant_id, round_id),
  UNIQUE (tenant_id, survey_id, number),
  UNIQUE (tenant_id, survey_id, period_start),
  FOREIGN KEY (tenant_id, survey_id) REFERENCES surveys (tenant_id, survey_id) ON DELETE CASCADE
);

CREATE TABLE survey_invitations (
  tenant_id uuid NOT NULL,
  -- SHA-256 of the token; the token itself is shown once.
  token_hash bytea NOT NULL CHECK (length(token_hash) = 32),
  round_id uuid NOT NULL,
  contact_id text,
  account_id text,
  department text,
  team text,
  location text,
  tier smallint CHECK (tier BETWEEN 0 AND 3),
  expires_at timestamptz,
  used boolean NOT NULL DEFAULT false,
  PRIMARY KEY (tenant_id, token_hash),
  FOREIGN KEY (tenant_id, round_id) REFERENCES survey_rounds (tenant_id, round_id) ON DELETE CASCADE,
  FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts (tenant_id, contact_id) ON DELETE CASCADE
);
CREATE INDEX survey_invitations_round ON survey_invitations (tenant_id, round_id);
CREATE UNIQUE INDEX survey_invitations_contact ON survey_invitations (tenant_id, round_id, contact_id)
  WHERE contact_id IS NOT NULL;

CREATE TABLE survey_responses (
  tenant_id uuid NOT NULL,
  response_id uuid NOT NULL DEFAULT gen_random_uuid(),
  survey_id uuid NOT NULL,
  round_id uuid NOT NULL,
  department text,
  team text,
  location text,
  tier smallint CHECK (tier BETWEEN 0 AND 3),
  -- The answer to the survey's first nps question, for the score; NULL without one.
  score smallint CHECK (score BETWEEN 0 AND 10),
  -- {"question id": number | [choices] | "text" | true/false}
  answers jsonb NOT NULL,
  PRIMARY KEY (tenant_id, response_id),
  FOREIGN KEY (tenant_id, round_id) REFERENCES survey_rounds (tenant_id, round_id) ON DELETE CASCADE
);
CREATE INDEX survey_responses_round ON survey_responses (tenant_id, survey_id, round_id);

CREATE TABLE survey_response_identities (
  tenant_id uuid NOT NULL,
  response_id uuid NOT NULL,
  contact_id text,
  account_id text NOT NULL,
  answered_at timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, response_id),
  FOREIGN KEY (tenant_id, response_id) REFERENCES survey_responses (tenant_id, response_id) ON DELETE CASCADE,
  FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts (tenant_id, contact_id) ON DELETE SET NULL (contact_id)
);
CREATE INDEX survey_response_identities_account ON survey_response_identities (tenant_id, account_id);

-- No path, the server's or a person's with SQL, can tie an answer of an anonymous survey to anyone.
CREATE FUNCTION refuse_anonymous_identity() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM survey_responses r JOIN surveys s USING (tenant_id, survey_id)
             WHERE r.tenant_id = NEW.tenant_id AND r.response_id = NEW.response_id AND s.anonymous) THEN
    RAISE EXCEPTION 'the response belongs to an anonymous survey: it has no identity';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER survey_response_identities_anonymous BEFORE INSERT OR UPDATE ON survey_response_identities
  FOR EACH ROW EXECUTE FUNCTION refuse_anonymous_identity();

-- The pulse scheduler's view across tenants: which surveys have a cadence (no answers, no names).
CREATE FUNCTION pulse_surveys_with_cadence() RETURNS TABLE (tenant_id uuid, survey_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT tenant_id, survey_id FROM surveys WHERE cadence IS NOT NULL AND archived_at IS NULL
$$;
REVOKE ALL ON FUNCTION pulse_surveys_with_cadence() FROM PUBLIC;
-- Row-level security binds the owner too (FORCE); this read-only policy lets the function above,
-- which runs as tally_owner, see every tenant's survey rows. tally_app never runs as tally_owner.
CREATE POLICY pulse_scheduler ON surveys FOR SELECT TO tally_owner USING (true);
GRANT EXECUTE ON FUNCTION pulse_surveys_with_cadence() TO tally_app;

DO $$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['surveys', 'survey_rounds', 'survey_invitations', 'survey_responses',
                           'survey_response_identities']
  LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format(
      'CREATE POLICY tenant_isolation ON %I USING (tenant_id = (SELECT nullif(current_setting(''tally.tenant_id'', true), '''')::uuid))',
      t
    );
  END LOOP;
END $$;

GRANT SELECT, INSERT, UPDATE ON surveys, survey_rounds TO tally_app;
GRANT SELECT, INSERT, UPDATE ON survey_invitations TO tally_app;
GRANT SELECT, INSERT ON survey_responses, survey_response_identities TO tally_app;
