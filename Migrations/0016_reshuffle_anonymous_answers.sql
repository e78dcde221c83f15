-- Anonymous answers stored before migration 0015 were inserted by the transaction that claimed
-- their invitation, in the order of the claims, so their transaction ids and places on disk still
-- lead to the invitations. Each is stored again here: a new row (and id, which the API never shows
-- for an anonymous survey), all inserted by this one transaction in random order, the old rows
-- deleted. Their dead versions last until the next vacuum of survey_responses (run
-- `VACUUM survey_responses` to drop them at once); the WAL and older backups keep the history.
CREATE POLICY migration_0016 ON survey_responses TO tally_owner USING (true) WITH CHECK (true);
WITH moved AS (
  DELETE FROM survey_responses r USING surveys s
  WHERE s.tenant_id = r.tenant_id AND s.survey_id = r.survey_id AND s.anonymous
  RETURNING r.tenant_id, r.survey_id, r.round_id, r.department, r.team, r.location, r.tier, r.score, r.answers
)
INSERT INTO survey_responses (tenant_id, survey_id, round_id, department, team, location, tier, score, answers)
SELECT tenant_id, survey_id, round_id, department, team, location, tier, score, answers FROM moved ORDER BY random();
DROP POLICY migration_0016 ON survey_responses;
