-- UpsertAccount with replace_past_tenures writes `past_tenures` itself, to correct a tenure that
-- migration 0023's trigger kept from a write that only looked like a win-back (a mistyped year),
-- or to record a returning customer's history. The trigger no longer copies the old value over
-- every write: a write that leaves the column out keeps it anyway, and a win-back now adds the
-- tenure it ends to whatever the write set.
CREATE OR REPLACE FUNCTION keep_past_customer_tenure() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.customer_since IS NOT NULL AND OLD.churned_at IS NOT NULL
    AND NEW.customer_since IS DISTINCT FROM OLD.customer_since AND NEW.customer_since >= OLD.churned_at
  THEN
    NEW.past_tenures := coalesce(NEW.past_tenures, '{}'::tstzmultirange)
      + tstzmultirange(tstzrange(OLD.customer_since, OLD.churned_at, '(]'));
  END IF;
  RETURN NEW;
END $$;
