-- Anonymous answers sealed until their round closes (docs/SURVEYS.md, "Sealed until the round
-- closes"). The transaction that claims an invitation used to insert its answer into
-- survey_responses, so whoever could read the tables (a database superuser) could match the two
-- rows by their transaction id. Now that transaction stores the answer here, encrypted with a
-- key the server holds and the database never sees. When the round closes, the server deletes
-- the round's sealed answers and inserts them into survey_responses in one transaction, in random
-- order: every answer of the round then has the same transaction id, and none leads to a claim.
CREATE TABLE survey_sealed_answers (
  tenant_id uuid NOT NULL,
  round_id uuid NOT NULL,
  -- The fingerprint of the server key that sealed it (the first 8 bytes of its SHA-256, hex).
  key_id text NOT NULL CHECK (key_id ~ '^[0-9a-f]{16}$'),
  -- AES-GCM: nonce, ciphertext of the padded answer, tag.
  sealed bytea NOT NULL,
  FOREIGN KEY (tenant_id, round_id) REFERENCES survey_rounds (tenant_id, round_id) ON DELETE CASCADE
);
CREATE INDEX survey_sealed_answers_round ON survey_sealed_answers (tenant_id, round_id);

ALTER TABLE survey_sealed_answers ENABLE ROW LEVEL SECURITY;
ALTER TABLE survey_sealed_answers FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON survey_sealed_answers
  USING (tenant_id = nullif(current_setting('tally.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, DELETE ON survey_sealed_answers TO tally_app;

-- The tenants whose closed rounds still hold sealed answers, for the server's once-a-minute
-- opener (no rounds, no answers, no names). The same read-only policies as the pulse scheduler's.
CREATE FUNCTION tenants_with_sealed_answers_due(at timestamptz) RETURNS TABLE (tenant_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT DISTINCT a.tenant_id FROM survey_sealed_answers a
  JOIN survey_rounds r ON r.tenant_id = a.tenant_id AND r.round_id = a.round_id
  WHERE r.closes_at <= at
$$;
REVOKE ALL ON FUNCTION tenants_with_sealed_answers_due(timestamptz) FROM PUBLIC;
CREATE POLICY sealed_answer_opener ON survey_sealed_answers FOR SELECT TO tally_owner USING (true);
CREATE POLICY sealed_answer_opener ON survey_rounds FOR SELECT TO tally_owner USING (true);
GRANT EXECUTE ON FUNCTION tenants_with_sealed_answers_due(timestamptz) TO tally_app;
