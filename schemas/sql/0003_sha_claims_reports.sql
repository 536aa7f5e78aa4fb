-- clinic-records, migration 3: SHA (Social Health Authority) claims made from a visit
-- and its invoice, their status flow, claim batches, and the financial report.

CREATE TABLE claim_transitions (
  from_status text NOT NULL,
  to_status   text NOT NULL,
  PRIMARY KEY (from_status, to_status)
);
INSERT INTO claim_transitions VALUES
  ('draft', 'ready_to_submit'),
  ('ready_to_submit', 'draft'), ('ready_to_submit', 'submitted'),
  ('submitted', 'approved'), ('submitted', 'rejected'),
  ('approved', 'partially_paid'), ('approved', 'paid'),
  ('partially_paid', 'partially_paid'), ('partially_paid', 'paid'),
  ('rejected', 'draft');

CREATE TABLE claim_batches (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  batch_number  text NOT NULL UNIQUE,
  submitted_by  text NOT NULL,
  submitted_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sha_claims (
  id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  claim_number        text NOT NULL UNIQUE,
  patient_id          bigint NOT NULL REFERENCES patients (id),
  visit_id            bigint NOT NULL REFERENCES visits (id),
  invoice_id          bigint NOT NULL REFERENCES invoices (id),
  beneficiary_id      text NOT NULL,
  facility_level      smallint NOT NULL CHECK (facility_level BETWEEN 1 AND 6),
  primary_diagnosis   text NOT NULL,                -- ICD-10
  secondary_diagnoses text[] NOT NULL DEFAULT '{}', -- ICD-10
  claimed_amount      numeric(14, 2) NOT NULL CHECK (claimed_amount >= 0),
  approved_amount     numeric(14, 2) CHECK (approved_amount >= 0 AND approved_amount <= claimed_amount),
  paid_amount         numeric(14, 2) NOT NULL DEFAULT 0
                      CHECK (paid_amount >= 0 AND paid_amount <= coalesce(approved_amount, 0)),
  status              text NOT NULL DEFAULT 'draft'
                      CHECK (status IN ('draft', 'ready_to_submit', 'submitted', 'approved', 'rejected',
                                        'partially_paid', 'paid')),
  rejection_reason    text,
  batch_id            bigint REFERENCES claim_batches (id),
  version             integer NOT NULL DEFAULT 1,
  created_at          timestamptz NOT NULL DEFAULT now(),
  updated_at          timestamptz NOT NULL DEFAULT now()
);
-- One live claim per invoice: a rejected claim goes back to draft, it is not duplicated.
CREATE UNIQUE INDEX sha_claims_invoice ON sha_claims (invoice_id);
CREATE INDEX sha_claims_status ON sha_claims (status, id);
CREATE INDEX sha_claims_batch ON sha_claims (batch_id);

CREATE TABLE sha_claim_items (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  claim_id         bigint NOT NULL REFERENCES sha_claims (id),
  tariff_code      text NOT NULL,
  description      text NOT NULL,
  quantity         numeric(10, 2) NOT NULL CHECK (quantity > 0),
  unit_price       numeric(14, 2) NOT NULL CHECK (unit_price >= 0),
  amount           numeric(14, 2) GENERATED ALWAYS AS (round(quantity * unit_price, 2)) STORED,
  preauth_number   text
);
CREATE INDEX sha_claim_items_claim ON sha_claim_items (claim_id);

CREATE FUNCTION claim_json(c sha_claims) RETURNS json LANGUAGE sql STABLE AS $$
  SELECT json_build_object('id', c.id, 'claim_number', c.claim_number, 'patient_id', c.patient_id,
    'visit_id', c.visit_id, 'invoice_id', c.invoice_id, 'beneficiary_id', c.beneficiary_id,
    'facility_level', c.facility_level, 'primary_diagnosis', c.primary_diagnosis,
    'secondary_diagnoses', to_json(c.secondary_diagnoses), 'claimed_amount', c.claimed_amount,
    'approved_amount', c.approved_amount, 'paid_amount', c.paid_amount, 'status', c.status,
    'rejection_reason', c.rejection_reason, 'batch_id', c.batch_id, 'version', c.version,
    'created_at', c.created_at, 'updated_at', c.updated_at,
    'items', (SELECT coalesce(json_agg(json_build_object('id', it.id, 'tariff_code', it.tariff_code,
                'description', it.description, 'quantity', it.quantity, 'unit_price', it.unit_price,
                'amount', it.amount, 'preauth_number', it.preauth_number) ORDER BY it.id), '[]')
              FROM sha_claim_items it WHERE it.claim_id = c.id))
$$;

-- A claim is made from a visit and its SHA invoice. Its items are the invoice's items;
-- every item needs a tariff code. `preauthorizations` maps tariff codes to
-- pre-authorisation numbers.
CREATE FUNCTION claim_create(b json, p_tenant text, p_principal text) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE v visits; i invoices; c sha_claims; missing text;
BEGIN
  SELECT * INTO v FROM visits WHERE id = (b->>'visit_id')::bigint;
  IF NOT FOUND THEN RAISE EXCEPTION 'visit_id|no visit with id %', b->>'visit_id' USING ERRCODE = 'CR404'; END IF;
  SELECT * INTO i FROM invoices WHERE id = (b->>'invoice_id')::bigint;
  IF NOT FOUND THEN RAISE EXCEPTION 'invoice_id|no invoice with id %', b->>'invoice_id' USING ERRCODE = 'CR404'; END IF;
  IF i.patient_id <> v.patient_id OR i.visit_id IS DISTINCT FROM v.id THEN
    RAISE EXCEPTION 'invoice_id|invoice % is not for visit %', i.id, v.id USING ERRCODE = 'CR400';
  END IF;
  IF i.payer_type <> 'sha' THEN
    RAISE EXCEPTION 'invoice_id|invoice % is payable by %, not SHA', i.id, i.payer_type USING ERRCODE = 'CR400';
  END IF;
  SELECT string_agg(description, ', ') INTO missing FROM invoice_items WHERE invoice_id = i.id AND tariff_code IS NULL;
  IF missing IS NOT NULL THEN
    RAISE EXCEPTION 'invoice_id|items without a tariff code: %', missing USING ERRCODE = 'CR400';
  END IF;
  INSERT INTO sha_claims (claim_number, patient_id, visit_id, invoice_id, beneficiary_id, facility_level,
                          primary_diagnosis, secondary_diagnoses, claimed_amount)
  VALUES ('SHA-' || to_char(v.visit_date, 'YYYYMMDD') || '-' || i.id, v.patient_id, v.id, i.id,
          b->>'beneficiary_id', (b->>'facility_level')::smallint, b->>'primary_diagnosis',
          coalesce(ARRAY(SELECT json_array_elements_text(b->'secondary_diagnoses')), '{}'), i.total)
  ON CONFLICT (invoice_id) DO NOTHING
  RETURNING * INTO c;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'invoice_id|invoice % already has a claim', i.id USING ERRCODE = 'CR409';
  END IF;
  INSERT INTO sha_claim_items (claim_id, tariff_code, description, quantity, unit_price, preauth_number)
  SELECT c.id, it.tariff_code, it.description, it.quantity, it.unit_price, b->'preauthorizations'->>it.tariff_code
    FROM invoice_items it WHERE it.invoice_id = i.id ORDER BY it.id;
  PERFORM audit(p_tenant, p_principal, 'claims.create', 'claim', c.id, c.patient_id,
                jsonb_build_object('claimed_amount', c.claimed_amount));
  RETURN claim_json(c);
END $$;

CREATE FUNCTION claim_get(b json, p_tenant text, p_principal text) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE c sha_claims;
BEGIN
  SELECT * INTO c FROM sha_claims WHERE id = (b->>'id')::bigint;
  IF NOT FOUND THEN RAISE EXCEPTION 'id|no claim with id %', b->>'id' USING ERRCODE = 'CR404'; END IF;
  PERFORM audit(p_tenant, p_principal, 'claims.get', 'claim', c.id, c.patient_id);
  RETURN claim_json(c);
END $$;

CREATE FUNCTION claim_list(b json, p_tenant text, p_principal text) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE page json; last_id bigint; n int; lim int := coalesce((b->>'limit')::int, 50);
BEGIN
  WITH rows AS (
    SELECT * FROM sha_claims c
    WHERE (b->>'status' IS NULL OR c.status = b->>'status')
      AND (b->>'batch_id' IS NULL OR c.batch_id = (b->>'batch_id')::bigint)
      AND (b->>'patient_id' IS NULL OR c.patient_id = (b->>'patient_id')::bigint)
      AND c.id > coalesce((b->>'after')::bigint, 0)
    ORDER BY c.id LIMIT lim)
  SELECT coalesce(json_agg(claim_json(rows) ORDER BY rows.id), '[]'), max(rows.id), count(*)
    INTO page, last_id, n FROM rows;
  PERFORM audit(p_tenant, p_principal, 'claims.list', 'claim', NULL, (b->>'patient_id')::bigint,
                jsonb_build_object('count', n));
  RETURN json_build_object('items', page, 'next_after', CASE WHEN n = lim THEN last_id END);
END $$;

-- Moves a claim along its flow. approved needs approved_amount (<= claimed);
-- rejected needs a reason; partially_paid / paid add `amount` to the paid amount, and
-- paid means the approved amount is then fully paid. submitted is reached through a
-- batch (claim_batch_create), not here.
CREATE FUNCTION claim_transition(b json, p_tenant text, p_principal text) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE c sha_claims; target text := b->>'status'; allowed text; amt numeric; new_paid numeric;
BEGIN
  SELECT * INTO c FROM sha_claims WHERE id = (b->>'id')::bigint FOR UPDATE;
  IF NOT FOUND THEN RAISE EXCEPTION 'id|no claim with id %', b->>'id' USING ERRCODE = 'CR404'; END IF;
  IF target = 'submitted' THEN
    RAISE EXCEPTION 'status|claims are submitted in a batch: POST /api/sha/batches' USING ERRCODE = 'CR409';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM claim_transitions WHERE from_status = c.status AND to_status = target) THEN
    SELECT coalesce(string_agg(to_status, ', ' ORDER BY to_status), 'none (final state)') INTO allowed
      FROM claim_transitions WHERE from_status = c.status;
    RAISE EXCEPTION 'status|cannot move a claim from % to %; allowed: %', c.status, target, allowed
      USING ERRCODE = 'CR409';
  END IF;
  IF target = 'approved' THEN
    amt := (b->>'approved_amount')::numeric;
    IF amt IS NULL OR amt < 0 OR amt > c.claimed_amount THEN
      RAISE EXCEPTION 'approved_amount|required, between 0 and the claimed %', c.claimed_amount USING ERRCODE = 'CR400';
    END IF;
    UPDATE sha_claims SET approved_amount = amt WHERE id = c.id;
  ELSIF target = 'rejected' THEN
    IF coalesce(trim(b->>'reason'), '') = '' THEN
      RAISE EXCEPTION 'reason|a rejection needs a reason' USING ERRCODE = 'CR400';
    END IF;
    UPDATE sha_claims SET rejection_reason = b->>'reason' WHERE id = c.id;
  ELSIF target IN ('partially_paid', 'paid') THEN
    amt := (b->>'amount')::numeric;
    IF amt IS NULL OR amt <= 0 THEN
      RAISE EXCEPTION 'amount|required and positive' USING ERRCODE = 'CR400';
    END IF;
    new_paid := c.paid_amount + amt;
    IF new_paid > c.approved_amount THEN
      RAISE EXCEPTION 'amount|paying % would exceed the approved % (already paid %)', amt, c.approved_amount,
        c.paid_amount USING ERRCODE = 'CR400';
    END IF;
    IF target = 'paid' AND new_paid <> c.approved_amount THEN
      RAISE EXCEPTION 'amount|% leaves % of the approved amount unpaid: use partially_paid', amt,
        c.approved_amount - new_paid USING ERRCODE = 'CR400';
    END IF;
    IF target = 'partially_paid' AND new_paid = c.approved_amount THEN target := 'paid'; END IF;
    UPDATE sha_claims SET paid_amount = new_paid WHERE id = c.id;
  ELSIF target = 'draft' THEN
    UPDATE sha_claims SET batch_id = NULL, rejection_reason = NULL, approved_amount = NULL WHERE id = c.id;
  END IF;
  UPDATE sha_claims SET status = target, version = version + 1, updated_at = now()
   WHERE id = c.id RETURNING * INTO c;
  PERFORM audit(p_tenant, p_principal, 'claims.transition', 'claim', c.id, c.patient_id,
                jsonb_build_object('status', target, 'amount', amt, 'reason', b->>'reason'));
  RETURN claim_json(c);
END $$;

-- Submits claims together: every one must be ready_to_submit, or nothing changes.
CREATE FUNCTION claim_batch_create(b json, p_tenant text, p_principal text) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE batch claim_batches; ids bigint[]; not_ready text; n int;
BEGIN
  ids := ARRAY(SELECT DISTINCT x::bigint FROM json_array_elements_text(b->'claim_ids') x);
  PERFORM 1 FROM sha_claims WHERE id = ANY (ids) ORDER BY id FOR UPDATE;
  SELECT string_agg(x::text || CASE WHEN c.id IS NULL THEN ' (unknown)' ELSE ' (' || c.status || ')' END, ', ')
    INTO not_ready
    FROM unnest(ids) x LEFT JOIN sha_claims c ON c.id = x
   WHERE c.id IS NULL OR c.status <> 'ready_to_submit';
  IF not_ready IS NOT NULL THEN
    RAISE EXCEPTION 'claim_ids|not ready to submit: %', not_ready USING ERRCODE = 'CR409';
  END IF;
  INSERT INTO claim_batches (batch_number, submitted_by)
  VALUES ('B-' || to_char(now(), 'YYYYMMDD') || '-' || upper(substr(md5(random()::text || clock_timestamp()::text), 1, 10)),
          p_principal)
  RETURNING * INTO batch;
  UPDATE sha_claims SET status = 'submitted', batch_id = batch.id, version = version + 1, updated_at = now()
   WHERE id = ANY (ids);
  GET DIAGNOSTICS n = ROW_COUNT;
  PERFORM audit(p_tenant, p_principal, 'batches.create', 'batch', batch.id, NULL,
                jsonb_build_object('claim_ids', to_jsonb(ids)));
  RETURN claim_batch_json(batch);
END $$;

CREATE FUNCTION claim_batch_json(batch claim_batches) RETURNS json LANGUAGE sql STABLE AS $$
  SELECT json_build_object('id', batch.id, 'batch_number', batch.batch_number,
    'submitted_by', batch.submitted_by, 'submitted_at', batch.submitted_at,
    'claim_count', (SELECT count(*) FROM sha_claims c WHERE c.batch_id = batch.id),
    'total_claimed', (SELECT coalesce(sum(claimed_amount), 0.00) FROM sha_claims c WHERE c.batch_id = batch.id),
    'claim_ids', (SELECT coalesce(json_agg(c.id ORDER BY c.id), '[]') FROM sha_claims c WHERE c.batch_id = batch.id))
$$;

CREATE FUNCTION claim_batch_get(b json, p_tenant text, p_principal text) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE batch claim_batches;
BEGIN
  SELECT * INTO batch FROM claim_batches WHERE id = (b->>'id')::bigint;
  IF NOT FOUND THEN RAISE EXCEPTION 'id|no batch with id %', b->>'id' USING ERRCODE = 'CR404'; END IF;
  RETURN claim_batch_json(batch);
END $$;

CREATE FUNCTION claim_batch_list(b json, p_tenant text, p_principal text) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE page json; last_id bigint; n int; lim int := coalesce((b->>'limit')::int, 50);
BEGIN
  WITH rows AS (SELECT * FROM claim_batches x WHERE x.id > coalesce((b->>'after')::bigint, 0) ORDER BY x.id LIMIT lim)
  SELECT coalesce(json_agg(claim_batch_json(rows) ORDER BY rows.id), '[]'), max(rows.id), count(*)
    INTO page, last_id, n FROM rows;
  RETURN json_build_object('items', page, 'next_after', CASE WHEN n = lim THEN last_id END);
END $$;

-- ---------------------------------------------------------------- financial report
-- For [from, to]: revenue (payments received) by day, by month and by payer type;
-- receivables (unpaid invoice balances issued up to `to`) aged at `to` in 0-30, 31-60,
-- 61-90 and 90+ day buckets; claims of visits in the range by status with amounts.
-- Balances are today's: a payment made after `to` already reduces them.
CREATE FUNCTION report_financial(b json, p_tenant text, p_principal text) RETURNS json
LANGUAGE plpgsql STABLE AS $$
DECLARE d_from date := (b->>'from')::date; d_to date := (b->>'to')::date;
BEGIN
  IF d_to < d_from THEN RAISE EXCEPTION 'to|must not be before from' USING ERRCODE = 'CR400'; END IF;
  RETURN json_build_object(
    'from', d_from, 'to', d_to,
    'revenue_total', (SELECT coalesce(sum(amount), 0.00) FROM payments WHERE paid_on BETWEEN d_from AND d_to),
    'invoiced_total', (SELECT coalesce(sum(total), 0.00) FROM invoices
                        WHERE issued_on BETWEEN d_from AND d_to AND status <> 'void'),
    'revenue_by_day', (SELECT coalesce(json_agg(json_build_object('day', day, 'amount', amount, 'payments', n)
                                                ORDER BY day), '[]')
                         FROM (SELECT paid_on AS day, sum(amount) AS amount, count(*) AS n FROM payments
                                WHERE paid_on BETWEEN d_from AND d_to GROUP BY paid_on) t),
    'revenue_by_month', (SELECT coalesce(json_agg(json_build_object('month', month, 'amount', amount, 'payments', n)
                                                  ORDER BY month), '[]')
                           FROM (SELECT to_char(paid_on, 'YYYY-MM') AS month, sum(amount) AS amount, count(*) AS n
                                   FROM payments WHERE paid_on BETWEEN d_from AND d_to GROUP BY 1) t),
    'revenue_by_payer', (SELECT coalesce(json_agg(json_build_object('payer_type', payer_type, 'amount', amount,
                                                                    'payments', n) ORDER BY payer_type), '[]')
                           FROM (SELECT i.payer_type, sum(p.amount) AS amount, count(*) AS n
                                   FROM payments p JOIN invoices i ON i.id = p.invoice_id
                                  WHERE p.paid_on BETWEEN d_from AND d_to GROUP BY i.payer_type) t),
    'receivables_aging', (SELECT json_build_object(
                              'as_of', d_to,
                              '0_30', coalesce(sum(balance) FILTER (WHERE age <= 30), 0.00),
                              '31_60', coalesce(sum(balance) FILTER (WHERE age BETWEEN 31 AND 60), 0.00),
                              '61_90', coalesce(sum(balance) FILTER (WHERE age BETWEEN 61 AND 90), 0.00),
                              '90_plus', coalesce(sum(balance) FILTER (WHERE age > 90), 0.00),
                              'total', coalesce(sum(balance), 0.00),
                              'invoices', count(*))
                            FROM (SELECT balance, d_to - issued_on AS age FROM invoices
                                   WHERE issued_on <= d_to AND balance > 0 AND status <> 'void') t),
    'claims_by_status', (SELECT coalesce(json_agg(json_build_object('status', status, 'claims', n,
                                   'claimed', claimed, 'approved', approved, 'paid', paid) ORDER BY status), '[]')
                           FROM (SELECT c.status, count(*) AS n, sum(c.claimed_amount) AS claimed,
                                        coalesce(sum(c.approved_amount), 0.00) AS approved, sum(c.paid_amount) AS paid
                                   FROM sha_claims c JOIN visits v ON v.id = c.visit_id
                                  WHERE v.visit_date BETWEEN d_from AND d_to GROUP BY c.status) t));
END $$;
