-- influenced_accounts_share's TAM three ways, on a synthetic tenant shaped like the 10M set's
-- largest: 40,000 accounts, 8,000 targets, five periods (docs/BENCHMARKS.md, session 36). Run with
--   scripts/with-test-postgres bash -c 'psql "$TALLY_TEST_SUPERUSER_DATABASE_URL" -q -f Benchmarks/sql/influenced-tam.sql'
-- and read the four "Time:" lines after the set-up's.
\timing on
CREATE TEMP TABLE accounts AS
  SELECT 'a' || i AS account_id, (i % 10 = 0) AS in_icp, CASE WHEN i % 5 = 0 THEN 1 ELSE 0 END AS tier
  FROM generate_series(1, 40000) i;
CREATE TEMP TABLE periods AS SELECT g AS label FROM generate_series(0, 4) g;
ANALYZE accounts;
ANALYZE periods;
-- 1. Before session 36: the ICP accounts now.
SELECT p.label, (SELECT count(*) FROM accounts a WHERE a.in_icp OR a.tier > 0) FROM periods p;
-- 2. The period's targets by an EXISTS under OR: a probe per account.
WITH targets AS MATERIALIZED (SELECT p.label, a.account_id FROM periods p, accounts a WHERE a.tier > 0)
SELECT p.label, (SELECT count(*) FROM accounts a WHERE a.in_icp OR a.tier > 0
  OR EXISTS (SELECT 1 FROM targets g WHERE g.label = p.label AND g.account_id = a.account_id)) FROM periods p;
-- 3. A union per period.
WITH targets AS MATERIALIZED (SELECT p.label, a.account_id FROM periods p, accounts a WHERE a.tier > 0)
SELECT p.label, (SELECT count(*) FROM (SELECT a.account_id FROM accounts a WHERE a.in_icp OR a.tier > 0
  UNION SELECT g.account_id FROM targets g WHERE g.label = p.label) tam) FROM periods p;
-- 4. As committed: the ICP count, plus the targets that no longer are, grouped once for all periods.
WITH targets AS MATERIALIZED (SELECT p.label, a.account_id FROM periods p, accounts a WHERE a.tier > 0),
gone AS (SELECT g.label, count(*) AS n FROM targets g JOIN accounts a ON a.account_id = g.account_id
  WHERE NOT (a.in_icp OR a.tier > 0) GROUP BY g.label)
SELECT p.label, (SELECT count(*) FROM accounts a WHERE a.in_icp OR a.tier > 0)
  + coalesce((SELECT n FROM gone WHERE gone.label = p.label), 0) FROM periods p;
