-- clinic-records, migration 1: patients (soft-deleted, versioned, searchable by
-- name / phone / clinic number / insurance number with pg_trgm) and the audit log.
-- Applied once, in one transaction, by clinic-records at start (schema_migrations).
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- Business-rule errors raised by the functions below carry SQLSTATEs of class "CR":
-- CR400 bad input, CR404 not found, CR409 conflict. The message is "field|text" so the
-- service can report which field is at fault.

CREATE TABLE patients (
  id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  clinic_number     text NOT NULL,
  first_name        text NOT NULL,
  last_name         text NOT NULL,
  full_name         text GENERATED ALWAYS AS (first_name || ' ' || last_name) STORED,
  date_of_birth     date,
  gender            text CHECK (gender IN ('male', 'female', 'other')),
  phone             text,
  area              text,
  next_of_kin_name  text,
  next_of_kin_phone text,
  insurance_type    text NOT NULL DEFAULT 'cash' CHECK (insurance_type IN ('sha', 'private', 'cash')),
  insurance_number  text,
  version           integer NOT NULL DEFAULT 1,
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now(),
  deleted_at        timestamptz
);
-- Unique over deleted rows too: a clinic number is never reused for another person.
CREATE UNIQUE INDEX patients_clinic_number_key ON patients (clinic_number);
CREATE INDEX patients_full_name_trgm ON patients USING gin (full_name gin_trgm_ops);
CREATE INDEX patients_clinic_number_trgm ON patients USING gin (clinic_number gin_trgm_ops);
CREATE INDEX patients_phone_trgm ON patients USING gin (phone gin_trgm_ops);
CREATE INDEX patients_insurance_number_trgm ON patients USING gin (insurance_number gin_trgm_ops);

CREATE FUNCTION patient_json(p patients) RETURNS json LANGUAGE sql STABLE AS $$
  SELECT json_build_object(
    'id', p.id, 'clinic_number', p.clinic_number, 'first_name', p.first_name,
    'last_name', p.last_name, 'date_of_birth', p.date_of_birth, 'gender', p.gender,
    'phone', p.phone, 'area', p.area, 'next_of_kin_name', p.next_of_kin_name,
    'next_of_kin_phone', p.next_of_kin_phone, 'insurance_type', p.insurance_type,
    'insurance_number', p.insurance_number, 'version', p.version,
    'created_at', p.created_at, 'updated_at', p.updated_at)
$$;

CREATE TABLE audit_log (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at         timestamptz NOT NULL DEFAULT now(),
  tenant     text NOT NULL,
  principal  text NOT NULL,
  action     text NOT NULL,     -- the op, e.g. patients.update
  entity     text NOT NULL,     -- patient, visit, invoice, payment, claim
  entity_id  bigint,
  patient_id bigint,
  detail     jsonb
);
CREATE INDEX audit_log_patient ON audit_log (patient_id, id);

CREATE FUNCTION audit(p_tenant text, p_principal text, p_action text, p_entity text,
                      p_entity_id bigint, p_patient_id bigint, p_detail jsonb DEFAULT NULL)
RETURNS void LANGUAGE sql AS $$
  INSERT INTO audit_log (tenant, principal, action, entity, entity_id, patient_id, detail)
  VALUES (p_tenant, p_principal, p_action, p_entity, p_entity_id, p_patient_id, p_detail)
$$;

CREATE FUNCTION require_patient(p_id bigint) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM patients WHERE id = p_id AND deleted_at IS NULL) THEN
    RAISE EXCEPTION 'patient_id|no patient with id %', p_id USING ERRCODE = 'CR404';
  END IF;
END $$;

-- ---------------------------------------------------------------- patient ops
-- Each op is one function call taking the request body as json, so a request is one
-- round trip and one implicit transaction (the audit row commits with the change).

CREATE FUNCTION patient_create(b json, p_tenant text, p_principal text) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE r patients;
BEGIN
  INSERT INTO patients (clinic_number, first_name, last_name, date_of_birth, gender, phone, area,
                        next_of_kin_name, next_of_kin_phone, insurance_type, insurance_number)
  VALUES (b->>'clinic_number', b->>'first_name', b->>'last_name', (b->>'date_of_birth')::date,
          b->>'gender', b->>'phone', b->>'area', b->>'next_of_kin_name', b->>'next_of_kin_phone',
          coalesce(b->>'insurance_type', 'cash'), b->>'insurance_number')
  ON CONFLICT (clinic_number) DO NOTHING
  RETURNING * INTO r;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'clinic_number|clinic number % is already taken', b->>'clinic_number'
      USING ERRCODE = 'CR409';
  END IF;
  PERFORM audit(p_tenant, p_principal, 'patients.create', 'patient', r.id, r.id);
  RETURN patient_json(r);
END $$;

CREATE FUNCTION patient_get(b json, p_tenant text, p_principal text) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE r patients;
BEGIN
  SELECT * INTO r FROM patients WHERE id = (b->>'id')::bigint AND deleted_at IS NULL;
  IF NOT FOUND THEN RAISE EXCEPTION 'id|no patient with id %', b->>'id' USING ERRCODE = 'CR404'; END IF;
  PERFORM audit(p_tenant, p_principal, 'patients.get', 'patient', r.id, r.id);
  RETURN patient_json(r);
END $$;

-- The expected version comes from the body's "version" or the If-Match header
-- (`"3"`, `W/"3"` or `3`); a stale one is a 409 that names the current version.
CREATE FUNCTION expected_version(b json) RETURNS integer LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE v text := coalesce(b->>'version', regexp_replace(b->>'http_if_match', '[^0-9]', '', 'g'));
BEGIN
  IF v IS NULL OR v = '' THEN
    RAISE EXCEPTION 'version|required: send the If-Match header or a version field' USING ERRCODE = 'CR400';
  END IF;
  RETURN v::integer;
END $$;

CREATE FUNCTION patient_update(b json, p_tenant text, p_principal text) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE r patients; j jsonb := b::jsonb; expected integer := expected_version(b); current_version integer;
BEGIN
  UPDATE patients SET
    first_name        = CASE WHEN j ? 'first_name' THEN j->>'first_name' ELSE first_name END,
    last_name         = CASE WHEN j ? 'last_name' THEN j->>'last_name' ELSE last_name END,
    date_of_birth     = CASE WHEN j ? 'date_of_birth' THEN (j->>'date_of_birth')::date ELSE date_of_birth END,
    gender            = CASE WHEN j ? 'gender' THEN j->>'gender' ELSE gender END,
    phone             = CASE WHEN j ? 'phone' THEN j->>'phone' ELSE phone END,
    area              = CASE WHEN j ? 'area' THEN j->>'area' ELSE area END,
    next_of_kin_name  = CASE WHEN j ? 'next_of_kin_name' THEN j->>'next_of_kin_name' ELSE next_of_kin_name END,
    next_of_kin_phone = CASE WHEN j ? 'next_of_kin_phone' THEN j->>'next_of_kin_phone' ELSE next_of_kin_phone END,
    insurance_type    = CASE WHEN j ? 'insurance_type' THEN j->>'insurance_type' ELSE insurance_type END,
    insurance_number  = CASE WHEN j ? 'insurance_number' THEN j->>'insurance_number' ELSE insurance_number END,
    version = version + 1, updated_at = now()
  WHERE id = (j->>'id')::bigint AND deleted_at IS NULL AND version = expected
  RETURNING * INTO r;
  IF NOT FOUND THEN
    SELECT version INTO current_version FROM patients WHERE id = (j->>'id')::bigint AND deleted_at IS NULL;
    IF NOT FOUND THEN RAISE EXCEPTION 'id|no patient with id %', j->>'id' USING ERRCODE = 'CR404'; END IF;
    RAISE EXCEPTION 'version|stale version %: the patient is at version %', expected, current_version
      USING ERRCODE = 'CR409';
  END IF;
  PERFORM audit(p_tenant, p_principal, 'patients.update', 'patient', r.id, r.id,
                jsonb_build_object('version', r.version));
  RETURN patient_json(r);
END $$;

-- Soft delete: the row stays (claims and invoices refer to it) but reads answer 404.
CREATE FUNCTION patient_delete(b json, p_tenant text, p_principal text) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE r patients; j jsonb := b::jsonb;
BEGIN
  UPDATE patients SET deleted_at = now(), version = version + 1, updated_at = now()
   WHERE id = (j->>'id')::bigint AND deleted_at IS NULL
     AND (NOT (j ? 'version' OR j ? 'http_if_match') OR version = expected_version(b))
  RETURNING * INTO r;
  IF NOT FOUND THEN
    IF EXISTS (SELECT 1 FROM patients WHERE id = (j->>'id')::bigint AND deleted_at IS NULL) THEN
      RAISE EXCEPTION 'version|stale version %', expected_version(b) USING ERRCODE = 'CR409';
    END IF;
    RAISE EXCEPTION 'id|no patient with id %', j->>'id' USING ERRCODE = 'CR404';
  END IF;
  PERFORM audit(p_tenant, p_principal, 'patients.delete', 'patient', r.id, r.id);
  RETURN json_build_object('id', r.id, 'deleted', true);
END $$;

-- Keyset pagination on id: `after` is the last id of the previous page; `next_after`
-- is null on the last page.
CREATE FUNCTION patient_list(b json, p_tenant text, p_principal text) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE page json; last_id bigint; n int; ids bigint[]; lim int := coalesce((b->>'limit')::int, 50);
BEGIN
  WITH rows AS (
    SELECT * FROM patients p
    WHERE p.deleted_at IS NULL AND p.id > coalesce((b->>'after')::bigint, 0)
      AND (b->>'insurance_type' IS NULL OR p.insurance_type = b->>'insurance_type')
      AND (b->>'area' IS NULL OR p.area = b->>'area')
    ORDER BY p.id LIMIT lim)
  SELECT coalesce(json_agg(patient_json(rows) ORDER BY rows.id), '[]'), max(rows.id), count(*),
         array_agg(rows.id ORDER BY rows.id)
    INTO page, last_id, n, ids FROM rows;
  PERFORM audit(p_tenant, p_principal, 'patients.list', 'patient', NULL, NULL,
                jsonb_build_object('ids', to_jsonb(coalesce(ids, '{}'))));
  RETURN json_build_object('items', page, 'next_after', CASE WHEN n = lim THEN last_id END);
END $$;

-- Search: prefix on clinic number, phone and insurance number, and fuzzy (trigram) on
-- the full name; best matches first.
CREATE FUNCTION patient_search(b json, p_tenant text, p_principal text) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE q text := trim(b->>'q'); pattern text; page json; ids bigint[];
        lim int := coalesce((b->>'limit')::int, 20);
BEGIN
  IF q IS NULL OR q = '' THEN RAISE EXCEPTION 'q|must not be empty' USING ERRCODE = 'CR400'; END IF;
  pattern := replace(replace(replace(q, '\', '\\'), '%', '\%'), '_', '\_');
  WITH hits AS (
    SELECT p.*, greatest(similarity(p.full_name, q),
                         CASE WHEN p.clinic_number ILIKE pattern || '%' OR p.phone LIKE pattern || '%'
                                OR p.insurance_number ILIKE pattern || '%' THEN 1 ELSE 0 END,
                         CASE WHEN p.full_name ILIKE '%' || pattern || '%' THEN 0.9 ELSE 0 END) AS score
    FROM patients p
    WHERE p.deleted_at IS NULL
      AND (p.full_name % q OR p.full_name ILIKE '%' || pattern || '%'
           OR p.clinic_number ILIKE pattern || '%' OR p.phone LIKE pattern || '%'
           OR p.insurance_number ILIKE pattern || '%')
    ORDER BY score DESC, p.id LIMIT lim),
  ranked AS (SELECT hits.*, row_number() OVER (ORDER BY score DESC, id) AS rank FROM hits)
  SELECT coalesce(json_agg(patient_json(ROW(r.id, r.clinic_number, r.first_name, r.last_name, r.full_name,
           r.date_of_birth, r.gender, r.phone, r.area, r.next_of_kin_name, r.next_of_kin_phone,
           r.insurance_type, r.insurance_number, r.version, r.created_at, r.updated_at,
           r.deleted_at)::patients) ORDER BY r.rank), '[]'),
         array_agg(r.id ORDER BY r.rank)
    INTO page, ids FROM ranked r;
  PERFORM audit(p_tenant, p_principal, 'patients.search', 'patient', NULL, NULL,
                jsonb_build_object('q', q, 'ids', to_jsonb(coalesce(ids, '{}'))));
  RETURN json_build_object('items', page);
END $$;
