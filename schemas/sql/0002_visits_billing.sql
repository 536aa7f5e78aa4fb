-- clinic-records, migration 2: visits with their status flow, invoices with items,
-- payments that move an invoice's paid amount, balance and status in one statement,
-- and the financial report. Each op is one function call (one round trip), taking the
-- request body as json (numbers in it are exact: json numerics cast to numeric exactly)
-- plus the tenant and principal for the audit log.

-- ---------------------------------------------------------------- visits
CREATE TABLE visit_transitions (
  from_status text NOT NULL,
  to_status   text NOT NULL,
  PRIMARY KEY (from_status, to_status)
);
INSERT INTO visit_transitions VALUES
  ('registered', 'triaged'), ('registered', 'cancelled'),
  ('triaged', 'in_consultation'), ('triaged', 'cancelled'),
  ('in_consultation', 'awaiting_results'), ('in_consultation', 'pharmacy'),
  ('in_consultation', 'billing'), ('in_consultation', 'completed'), ('in_consultation', 'cancelled'),
  ('awaiting_results', 'in_consultation'), ('awaiting_results', 'cancelled'),
  ('pharmacy', 'billing'), ('pharmacy', 'completed'),
  ('billing', 'completed');

CREATE TABLE visits (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  patient_id  bigint NOT NULL REFERENCES patients (id),
  visit_date  date NOT NULL DEFAULT current_date,
  reason      text,
  status      text NOT NULL DEFAULT 'registered'
              CHECK (status IN ('registered', 'triaged', 'in_consultation', 'awaiting_results',
                                'pharmacy', 'billing', 'completed', 'cancelled')),
  vitals      jsonb,
  diagnoses   text[] NOT NULL DEFAULT '{}',   -- ICD-10 codes
  version     integer NOT NULL DEFAULT 1,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX visits_patient ON visits (patient_id, id);
CREATE INDEX visits_date ON visits (visit_date, id);
CREATE INDEX visits_status ON visits (status, id);

CREATE FUNCTION visit_json(v visits) RETURNS json LANGUAGE sql STABLE AS $$
  SELECT json_build_object('id', v.id, 'patient_id', v.patient_id, 'visit_date', v.visit_date,
    'reason', v.reason, 'status', v.status, 'vitals', v.vitals, 'diagnoses', to_json(v.diagnoses),
    'version', v.version, 'created_at', v.created_at, 'updated_at', v.updated_at)
$$;

CREATE FUNCTION visit_create(b json, p_tenant text, p_principal text) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE v visits;
BEGIN
  PERFORM require_patient((b->>'patient_id')::bigint);
  INSERT INTO visits (patient_id, visit_date, reason, vitals, diagnoses)
  VALUES ((b->>'patient_id')::bigint, coalesce((b->>'visit_date')::date, current_date), b->>'reason',
          (b->'vitals')::jsonb,
          coalesce(ARRAY(SELECT json_array_elements_text(b->'diagnoses')), '{}'))
  RETURNING * INTO v;
  PERFORM audit(p_tenant, p_principal, 'visits.create', 'visit', v.id, v.patient_id);
  RETURN visit_json(v);
END $$;

CREATE FUNCTION visit_get(b json, p_tenant text, p_principal text) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE v visits;
BEGIN
  SELECT * INTO v FROM visits WHERE id = (b->>'id')::bigint;
  IF NOT FOUND THEN RAISE EXCEPTION 'id|no visit with id %', b->>'id' USING ERRCODE = 'CR404'; END IF;
  PERFORM audit(p_tenant, p_principal, 'visits.get', 'visit', v.id, v.patient_id);
  RETURN visit_json(v);
END $$;

-- Keyset pagination on id: `after` is the last id of the previous page.
CREATE FUNCTION visit_list(b json, p_tenant text, p_principal text) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE page json; last_id bigint; n int; lim int := coalesce((b->>'limit')::int, 50);
BEGIN
  WITH rows AS (
    SELECT * FROM visits v
    WHERE (b->>'patient_id' IS NULL OR v.patient_id = (b->>'patient_id')::bigint)
      AND (b->>'status' IS NULL OR v.status = b->>'status')
      AND (b->>'date' IS NULL OR v.visit_date = (b->>'date')::date)
      AND v.id > coalesce((b->>'after')::bigint, 0)
    ORDER BY v.id LIMIT lim)
  SELECT coalesce(json_agg(visit_json(rows) ORDER BY rows.id), '[]'), max(rows.id), count(*)
    INTO page, last_id, n FROM rows;
  PERFORM audit(p_tenant, p_principal, 'visits.list', 'visit', NULL,
                (b->>'patient_id')::bigint, jsonb_build_object('count', n));
  RETURN json_build_object('items', page, 'next_after', CASE WHEN n = lim THEN last_id END);
END $$;

CREATE FUNCTION visit_transition(b json, p_tenant text, p_principal text) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE v visits; target text := b->>'status'; allowed text;
BEGIN
  SELECT * INTO v FROM visits WHERE id = (b->>'id')::bigint FOR UPDATE;
  IF NOT FOUND THEN RAISE EXCEPTION 'id|no visit with id %', b->>'id' USING ERRCODE = 'CR404'; END IF;
  IF NOT EXISTS (SELECT 1 FROM visit_transitions WHERE from_status = v.status AND to_status = target) THEN
    SELECT coalesce(string_agg(to_status, ', ' ORDER BY to_status), 'none (final state)') INTO allowed
      FROM visit_transitions WHERE from_status = v.status;
    RAISE EXCEPTION 'status|cannot move a visit from % to %; allowed: %', v.status, target, allowed
      USING ERRCODE = 'CR409';
  END IF;
  UPDATE visits SET status = target,
                    vitals = coalesce((b->'vitals')::jsonb, vitals),
                    diagnoses = CASE WHEN b->'diagnoses' IS NULL THEN diagnoses
                                ELSE ARRAY(SELECT json_array_elements_text(b->'diagnoses')) END,
                    version = version + 1, updated_at = now()
   WHERE id = v.id RETURNING * INTO v;
  PERFORM audit(p_tenant, p_principal, 'visits.transition', 'visit', v.id, v.patient_id,
                jsonb_build_object('status', target));
  RETURN visit_json(v);
END $$;

-- ---------------------------------------------------------------- invoices and payments
CREATE TABLE invoices (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  patient_id  bigint NOT NULL REFERENCES patients (id),
  visit_id    bigint REFERENCES visits (id),
  payer_type  text NOT NULL CHECK (payer_type IN ('sha', 'private', 'cash')),
  issued_on   date NOT NULL DEFAULT current_date,
  due_on      date,
  total       numeric(14, 2) NOT NULL CHECK (total >= 0),
  paid        numeric(14, 2) NOT NULL DEFAULT 0 CHECK (paid >= 0 AND paid <= total),
  balance     numeric(14, 2) GENERATED ALWAYS AS (total - paid) STORED,
  status      text NOT NULL DEFAULT 'unpaid' CHECK (status IN ('unpaid', 'partially_paid', 'paid', 'void')),
  version     integer NOT NULL DEFAULT 1,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX invoices_patient ON invoices (patient_id, id);
CREATE INDEX invoices_issued ON invoices (issued_on);

CREATE TABLE invoice_items (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  invoice_id  bigint NOT NULL REFERENCES invoices (id),
  description text NOT NULL,
  tariff_code text,
  quantity    numeric(10, 2) NOT NULL CHECK (quantity > 0),
  unit_price  numeric(14, 2) NOT NULL CHECK (unit_price >= 0),
  amount      numeric(14, 2) GENERATED ALWAYS AS (round(quantity * unit_price, 2)) STORED
);
CREATE INDEX invoice_items_invoice ON invoice_items (invoice_id);

CREATE TABLE payments (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  invoice_id    bigint NOT NULL REFERENCES invoices (id),
  amount        numeric(14, 2) NOT NULL CHECK (amount > 0),
  method        text NOT NULL CHECK (method IN ('cash', 'mpesa', 'bank_transfer')),
  reference     text,
  paid_on       date NOT NULL DEFAULT current_date,
  received_by   text NOT NULL,
  reconciled    boolean NOT NULL DEFAULT false,
  created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payments_invoice ON payments (invoice_id);
CREATE INDEX payments_paid_on ON payments (paid_on);

CREATE FUNCTION invoice_json(i invoices) RETURNS json LANGUAGE sql STABLE AS $$
  SELECT json_build_object('id', i.id, 'patient_id', i.patient_id, 'visit_id', i.visit_id,
    'payer_type', i.payer_type, 'issued_on', i.issued_on, 'due_on', i.due_on, 'total', i.total,
    'paid', i.paid, 'balance', i.balance, 'status', i.status, 'version', i.version,
    'created_at', i.created_at,
    'items', (SELECT coalesce(json_agg(json_build_object('id', it.id, 'description', it.description,
                'tariff_code', it.tariff_code, 'quantity', it.quantity, 'unit_price', it.unit_price,
                'amount', it.amount) ORDER BY it.id), '[]')
              FROM invoice_items it WHERE it.invoice_id = i.id))
$$;

CREATE FUNCTION payment_json(p payments) RETURNS json LANGUAGE sql STABLE AS $$
  SELECT json_build_object('id', p.id, 'invoice_id', p.invoice_id, 'amount', p.amount,
    'method', p.method, 'reference', p.reference, 'paid_on', p.paid_on,
    'received_by', p.received_by, 'reconciled', p.reconciled, 'created_at', p.created_at)
$$;

CREATE FUNCTION invoice_create(b json, p_tenant text, p_principal text) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE i invoices; v_patient bigint := (b->>'patient_id')::bigint;
BEGIN
  PERFORM require_patient(v_patient);
  IF b->>'visit_id' IS NOT NULL AND NOT EXISTS
     (SELECT 1 FROM visits WHERE id = (b->>'visit_id')::bigint AND patient_id = v_patient) THEN
    RAISE EXCEPTION 'visit_id|no visit % for patient %', b->>'visit_id', v_patient USING ERRCODE = 'CR400';
  END IF;
  INSERT INTO invoices (patient_id, visit_id, payer_type, issued_on, due_on, total)
  VALUES (v_patient, (b->>'visit_id')::bigint, b->>'payer_type',
          coalesce((b->>'issued_on')::date, current_date), (b->>'due_on')::date,
          (SELECT coalesce(sum(round((x->>'quantity')::numeric * (x->>'unit_price')::numeric, 2)), 0)
             FROM json_array_elements(b->'items') x))
  RETURNING * INTO i;
  INSERT INTO invoice_items (invoice_id, description, tariff_code, quantity, unit_price)
  SELECT i.id, x->>'description', x->>'tariff_code', (x->>'quantity')::numeric, (x->>'unit_price')::numeric
    FROM json_array_elements(b->'items') WITH ORDINALITY AS t(x, n) ORDER BY n;
  PERFORM audit(p_tenant, p_principal, 'invoices.create', 'invoice', i.id, i.patient_id,
                jsonb_build_object('total', i.total));
  RETURN invoice_json(i);
END $$;

CREATE FUNCTION invoice_get(b json, p_tenant text, p_principal text) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE i invoices;
BEGIN
  SELECT * INTO i FROM invoices WHERE id = (b->>'id')::bigint;
  IF NOT FOUND THEN RAISE EXCEPTION 'id|no invoice with id %', b->>'id' USING ERRCODE = 'CR404'; END IF;
  PERFORM audit(p_tenant, p_principal, 'invoices.get', 'invoice', i.id, i.patient_id);
  RETURN invoice_json(i);
END $$;

CREATE FUNCTION invoice_list(b json, p_tenant text, p_principal text) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE page json; last_id bigint; n int; lim int := coalesce((b->>'limit')::int, 50);
BEGIN
  WITH rows AS (
    SELECT * FROM invoices i
    WHERE (b->>'patient_id' IS NULL OR i.patient_id = (b->>'patient_id')::bigint)
      AND (b->>'status' IS NULL OR i.status = b->>'status')
      AND i.id > coalesce((b->>'after')::bigint, 0)
    ORDER BY i.id LIMIT lim)
  SELECT coalesce(json_agg(invoice_json(rows) ORDER BY rows.id), '[]'), max(rows.id), count(*)
    INTO page, last_id, n FROM rows;
  PERFORM audit(p_tenant, p_principal, 'invoices.list', 'invoice', NULL,
                (b->>'patient_id')::bigint, jsonb_build_object('count', n));
  RETURN json_build_object('items', page, 'next_after', CASE WHEN n = lim THEN last_id END);
END $$;

-- A payment locks its invoice, refuses more than the balance, and moves paid, balance
-- and status together with the payment row: all or nothing, in one statement.
CREATE FUNCTION payment_create(b json, p_tenant text, p_principal text) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE i invoices; p payments; amt numeric := (b->>'amount')::numeric;
BEGIN
  SELECT * INTO i FROM invoices WHERE id = (b->>'invoice_id')::bigint FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'invoice_id|no invoice with id %', b->>'invoice_id' USING ERRCODE = 'CR404';
  END IF;
  IF i.status = 'void' THEN
    RAISE EXCEPTION 'invoice_id|invoice % is void', i.id USING ERRCODE = 'CR409';
  END IF;
  IF amt <= 0 OR amt <> round(amt, 2) THEN
    RAISE EXCEPTION 'amount|must be positive with at most 2 decimals' USING ERRCODE = 'CR400';
  END IF;
  IF amt > i.balance THEN
    RAISE EXCEPTION 'amount|payment of % exceeds the balance of %', amt, i.balance USING ERRCODE = 'CR400';
  END IF;
  INSERT INTO payments (invoice_id, amount, method, reference, paid_on, received_by)
  VALUES (i.id, amt, b->>'method', b->>'reference', coalesce((b->>'paid_on')::date, current_date), p_principal)
  RETURNING * INTO p;
  UPDATE invoices SET paid = paid + amt,
                      status = CASE WHEN paid + amt = total THEN 'paid' ELSE 'partially_paid' END,
                      version = version + 1
   WHERE id = i.id RETURNING * INTO i;
  PERFORM audit(p_tenant, p_principal, 'payments.create', 'payment', p.id, i.patient_id,
                jsonb_build_object('invoice_id', i.id, 'amount', amt));
  RETURN json_build_object('payment', payment_json(p), 'invoice', invoice_json(i));
END $$;

CREATE FUNCTION payment_list(b json, p_tenant text, p_principal text) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE page json; v_patient bigint;
BEGIN
  SELECT patient_id INTO v_patient FROM invoices WHERE id = (b->>'invoice_id')::bigint;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'invoice_id|no invoice with id %', b->>'invoice_id' USING ERRCODE = 'CR404';
  END IF;
  SELECT coalesce(json_agg(payment_json(p) ORDER BY p.id), '[]') INTO page
    FROM payments p WHERE p.invoice_id = (b->>'invoice_id')::bigint;
  PERFORM audit(p_tenant, p_principal, 'payments.list', 'payment', NULL, v_patient,
                jsonb_build_object('invoice_id', b->>'invoice_id'));
  RETURN json_build_object('items', page);
END $$;

-- Reconciliation: marks payments as matched against the bank / M-Pesa statement.
CREATE FUNCTION payment_reconcile(b json, p_tenant text, p_principal text) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE p payments; v_patient bigint;
BEGIN
  UPDATE payments SET reconciled = true WHERE id = (b->>'id')::bigint RETURNING * INTO p;
  IF NOT FOUND THEN RAISE EXCEPTION 'id|no payment with id %', b->>'id' USING ERRCODE = 'CR404'; END IF;
  SELECT patient_id INTO v_patient FROM invoices WHERE id = p.invoice_id;
  PERFORM audit(p_tenant, p_principal, 'payments.reconcile', 'payment', p.id, v_patient);
  RETURN payment_json(p);
END $$;

-- ---------------------------------------------------------------- audit
CREATE FUNCTION audit_list(b json, p_tenant text, p_principal text) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE page json; last_id bigint; n int; lim int := coalesce((b->>'limit')::int, 100);
BEGIN
  WITH rows AS (
    SELECT * FROM audit_log a
    WHERE (b->>'patient_id' IS NULL OR a.patient_id = (b->>'patient_id')::bigint)
      AND (b->>'action' IS NULL OR a.action = b->>'action')
      AND a.id > coalesce((b->>'after')::bigint, 0)
    ORDER BY a.id LIMIT lim)
  SELECT coalesce(json_agg(json_build_object('id', r.id, 'at', r.at, 'tenant', r.tenant,
           'principal', r.principal, 'action', r.action, 'entity', r.entity,
           'entity_id', r.entity_id, 'patient_id', r.patient_id, 'detail', r.detail) ORDER BY r.id), '[]'),
         max(r.id), count(*)
    INTO page, last_id, n FROM rows r;
  RETURN json_build_object('items', page, 'next_after', CASE WHEN n = lim THEN last_id END);
END $$;
