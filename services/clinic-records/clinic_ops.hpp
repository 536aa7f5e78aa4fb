// clinic_ops: the clinic-records op table. Each bus op (patients.create, visits.transition,
// payments.create, ...) is one call of a SQL function from schemas/sql, prepared once per
// connection: `SELECT fn($1::json, $2, $3)` with the request body as JSON text (decimals
// stay exact: the body's decimal extension is written as its digits, and PostgreSQL
// reads JSON numbers into numeric exactly), the tenant and the principal (for the audit
// log). The function returns the reply body as JSON, whose numerics come back as the
// decimal extension. So a request is one round trip and one implicit transaction: the
// change and its audit row commit together, or neither does.
// Durability: writes commit synchronously (an acknowledged write survives a crash).
// Reads commit their audit row with synchronous_commit off, so a read costs no WAL
// fsync; a PostgreSQL crash can lose the audit rows of the reads of its last moments
// (at most ~3 x wal_writer_delay, 600 ms by default), never a write or its audit row.
// patients.get is the exception to the function call: one statement that can answer
// many queued reads at once (patient_reads.hpp), with the same audit guarantee.
// Stateless; the handlers run on the pool's connection actors.
#pragma once

#include <string>
#include <vector>

#include "pg_pool.hpp"

namespace clinic {

struct clinic_op {
  std::string op;        // bus op, e.g. "patients.get"
  std::string function;  // SQL function, e.g. "patient_update"; empty: its own statement
  int success_status;    // 200, or 201 for a create
  bool read_only;        // reads (and their audit rows) may be retried on a new connection
};

const std::vector<clinic_op>& clinic_op_table();

// The pool handlers and the statement preparation for every op of the table.
pg_ops make_clinic_pg_ops();
void prepare_clinic_statements(pqxx::connection& connection);

}  // namespace clinic
