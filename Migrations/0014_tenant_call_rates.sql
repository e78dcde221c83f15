-- A tenant's own call rate (SetTenantCallRate, PROTOCOL.md §5): NULL keeps each server's
-- tenant_calls_per_second and tenant_call_burst; calls_per_second 0 lifts the limit for the tenant.
ALTER TABLE tenants
  ADD COLUMN calls_per_second integer CHECK (calls_per_second BETWEEN 0 AND 1000000),
  ADD COLUMN call_burst integer CHECK (call_burst BETWEEN 1 AND 10000000);
