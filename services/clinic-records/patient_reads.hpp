// patient_reads: the patient reads as single prepared statements that audit themselves.
// GET /api/patients/:id (bus op patients.get) is one prepared statement
// that answers one or many requests at once, and writes their audit rows in the same
// statement.
//
// The statement takes three parallel arrays (patient ids, tenants, principals) and calls
// patient_get_batch (schemas/sql/0005), which reads the live patients, inserts one
// audit_log row per patient found with that request's tenant and principal, and returns
// the patients' JSON. So a patient is never returned without its audit row committing in
// the same transaction, and a batch of N reads costs PostgreSQL one execution of a plan
// made once per connection, and one commit. Like every read, the audit rows
// commit with synchronous_commit off (see clinic_ops.hpp). An id that is absent or deleted
// answers 404, writes no audit row, and does not disturb the other requests of the batch;
// a body without a positive integer id answers 400 without reaching PostgreSQL.
//
// GET /api/patients (patients.list) is one prepared statement too: a keyset page of live
// patients (`after`, `limit` 1..500 default 50, optional `insurance_type` and `area`
// filters) and its audit row listing the page's ids, in the same statement; a field of the
// wrong type or out of range answers 400 naming it, without reaching PostgreSQL.
//
// Stateless; runs on the pool's connection actors (pg_pool.hpp).
#pragma once

#include <pqxx/pqxx>
#include <vector>

#include "suite/envelope.hpp"

namespace clinic {

// The statements' names; prepare_patient_reads prepares them on a connection.
extern const char* const patient_get_statement;
extern const char* const patient_list_statement;
void prepare_patient_reads(pqxx::connection& connection);

// One reply per request, in order (a pg_batch_run of pg_pool.hpp).
std::vector<suite::reply> get_patients(pqxx::connection& connection,
                                       const std::vector<const suite::request*>& requests);

// One page of patients.list.
suite::reply list_patients(pqxx::connection& connection, const suite::request& request);

// Appends `values` as a PostgreSQL text[] literal ({"a","b\"c"}), for array parameters.
void append_text_array(std::string& out, const std::vector<std::string_view>& values);

}  // namespace clinic
