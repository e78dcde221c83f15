-- A key revoked or deleted, or a tenant suspended, resumed or deleted, is announced on the channel
-- tally_key_changes as 'key:<key_id>' or 'tenant:<tenant_id>' when its transaction commits,
-- whichever way it was changed (RevokeApiKey, SuspendTenant, or SQL by hand). Every tallyd listens
-- and drops its cached pass of those keys, so the next call re-checks them (DESIGN: revocation
-- takes effect on the next call), where a pass used to last up to 2 s.
CREATE FUNCTION notify_key_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_TABLE_NAME = 'tenants' THEN
    PERFORM pg_notify('tally_key_changes', 'tenant:' || OLD.tenant_id::text);
  ELSE
    PERFORM pg_notify('tally_key_changes', 'key:' || OLD.key_id);
  END IF;
  RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION notify_key_change() FROM PUBLIC;

CREATE TRIGGER api_keys_changed AFTER UPDATE OF revoked_at OR DELETE ON api_keys
  FOR EACH ROW EXECUTE FUNCTION notify_key_change();
CREATE TRIGGER operator_api_keys_changed AFTER UPDATE OF revoked_at OR DELETE ON operator_api_keys
  FOR EACH ROW EXECUTE FUNCTION notify_key_change();
CREATE TRIGGER tenants_status_changed AFTER UPDATE OF status OR DELETE ON tenants
  FOR EACH ROW EXECUTE FUNCTION notify_key_change();
