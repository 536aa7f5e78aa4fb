-- clinic-records, migration 5: GET /api/patients/:id (one or a batch of reads) as one
-- function whose statement is planned once per connection.
--
-- As a statement prepared by the client, it was re-planned on every call: PostgreSQL
-- estimates unnest() of a parameter array at 10 rows, so the generic plan looked 5x
-- dearer than a custom plan for the usual one-id call, and plan_cache_mode = auto kept
-- choosing custom plans (parsing and inlining patient_json each time). Forcing the generic
-- plan for this function alone (its plan is the same nested loop on patients' primary key
-- for any batch size up to the pool's 32) took PostgreSQL from ~6,000 to ~19,000 calls/s
-- of one id on 4 connections (pgbench, 2 cores). The rest of the schema keeps the default:
-- search patterns and report ranges do want custom plans.
--
-- Reads the live patients among `ids`, writes one audit_log row per patient found with
-- that position's tenant and principal, and returns (position, patient_json) for each:
-- absent and deleted ids return no row and write no audit row. `found` is materialised
-- once, so the INSERT and the SELECT see the same rows; a data-modifying CTE always runs
-- to completion.
CREATE FUNCTION patient_get_batch(ids bigint[], tenants text[], principals text[])
RETURNS TABLE (n bigint, patient json) LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan AS $$
BEGIN
  RETURN QUERY
  WITH wanted AS (
    SELECT w.n, w.id, w.tenant, w.principal
      FROM unnest(ids, tenants, principals) WITH ORDINALITY AS w(id, tenant, principal, n)),
  found AS (
    SELECT wanted.n, wanted.tenant, wanted.principal, p AS patient
      FROM wanted JOIN patients p ON p.id = wanted.id AND p.deleted_at IS NULL),
  audited AS (
    INSERT INTO audit_log (tenant, principal, action, entity, entity_id, patient_id)
    SELECT f.tenant, f.principal, 'patients.get', 'patient', (f.patient).id, (f.patient).id
      FROM found f)
  SELECT f.n, patient_json(f.patient) FROM found f;
END $$;
