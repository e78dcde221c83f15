-- A round whose answers have been opened takes no more answers (docs/SURVEYS.md, "Sealed until
-- the round closes"). The opener sets answers_opened under the round's row lock, in a statement
-- before the one that deletes the round's sealed answers; the claim of an answer locks its round
-- FOR SHARE and refuses a round already opened. So every answer sealed into a round is opened
-- with the others, never later and alone, in a transaction of its own.
ALTER TABLE survey_rounds ADD COLUMN answers_opened boolean NOT NULL DEFAULT false;
-- The rounds an opener looks for: closed, not yet opened (few at any time).
CREATE INDEX survey_rounds_unopened ON survey_rounds (tenant_id, closes_at) WHERE NOT answers_opened;

-- Sealed answers are padded to their survey's longest answer (docs/SURVEYS.md): a few kilobytes
-- that do not compress. Kept in the row up to a page (no TOAST table and its index for each
-- answer), and never run through compression when longer.
ALTER TABLE survey_sealed_answers SET (toast_tuple_target = 8160);
ALTER TABLE survey_sealed_answers ALTER COLUMN sealed SET STORAGE EXTERNAL;
