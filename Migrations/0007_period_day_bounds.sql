-- The first and the last day of a KPI call's periods, as functions the planner evaluates while
-- planning. The period passes bound their rollup scans by these days; as a sub-SELECT of the
-- periods the bounds were unknown to the planner, which then estimated the largest of 1,000
-- tenants' quarter at 843 rollup rows where it reads 371,000, and sorted them on disk for a merge
-- join (docs/BENCHMARKS.md). IMMUTABLE, and called with the call's parameters, which KPI reads plan
-- as constants (custom plans): PostgreSQL folds each call to a date before estimating.
CREATE FUNCTION period_first_day(starts date[]) RETURNS date
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  AS $$ SELECT min(d) FROM unnest(starts) AS d $$;

CREATE FUNCTION period_last_day(ends date[]) RETURNS date
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  AS $$ SELECT max(d) FROM unnest(ends) AS d $$;
