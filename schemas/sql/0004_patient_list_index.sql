-- clinic-records, migration 4: keyset pages of live patients read a partial index in
-- id order, whatever the planner's statistics say (a fresh bulk import left them stale
-- and the list fell back to a sequential scan and a sort).
CREATE INDEX patients_live_id ON patients (id) WHERE deleted_at IS NULL;
