-- A customer who left and came back: the write that moves `customer_since` to on or after
-- `churned_at` (a win-back) used to erase the first tenure, so past periods' retention, churn and
-- customer counts changed with it. The tenure it ends is kept in `past_tenures`, each as
-- (customer_since, churned_at], the interval in which KPIs count an account as a customer
-- (docs/KPIS.md, "Customers at a time"). Any other change of the two dates is a correction and
-- keeps nothing. Only this trigger writes the column: a client's write never sets it.
ALTER TABLE accounts ADD COLUMN past_tenures tstzmultirange;

-- The tenures that account_history already shows ended by a win-back, with the trigger's rule
-- applied to each pair of consecutive history rows.
CREATE POLICY migration_0023 ON accounts TO tally_owner USING (true) WITH CHECK (true);
CREATE POLICY migration_0023 ON account_history TO tally_owner USING (true);
UPDATE accounts a SET past_tenures = t.tenures
FROM (
  SELECT tenant_id, account_id, range_agg(tstzrange(previous_since, previous_churned, '(]')) AS tenures
  FROM (
    SELECT tenant_id, account_id, customer_since,
      lag(customer_since) OVER w AS previous_since, lag(churned_at) OVER w AS previous_churned
    FROM account_history
    WINDOW w AS (PARTITION BY tenant_id, account_id ORDER BY changed_at)
  ) h
  WHERE previous_since IS NOT NULL AND previous_churned IS NOT NULL
    AND customer_since IS DISTINCT FROM previous_since AND customer_since >= previous_churned
  GROUP BY tenant_id, account_id
) t
WHERE a.tenant_id = t.tenant_id AND a.account_id = t.account_id;
DROP POLICY migration_0023 ON accounts;
DROP POLICY migration_0023 ON account_history;

CREATE FUNCTION keep_past_customer_tenure() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.customer_since IS NOT NULL AND OLD.churned_at IS NOT NULL
    AND NEW.customer_since IS DISTINCT FROM OLD.customer_since AND NEW.customer_since >= OLD.churned_at
  THEN
    NEW.past_tenures := coalesce(OLD.past_tenures, '{}'::tstzmultirange)
      + tstzmultirange(tstzrange(OLD.customer_since, OLD.churned_at, '(]'));
  ELSE
    NEW.past_tenures := OLD.past_tenures;
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER accounts_past_tenures BEFORE UPDATE ON accounts
  FOR EACH ROW EXECUTE FUNCTION keep_past_customer_tenure();
