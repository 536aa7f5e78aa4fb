// patient_import: POST /api/patients/bulk, all or nothing. Every row is checked first
// (the same rules as patients.create, plus clinic numbers repeated within the file),
// and every bad row is reported, as details named "patients[<index>].<field>"; then the
// rows go to PostgreSQL with COPY (libpqxx stream_to) into a temporary table, clinic
// numbers already taken are reported the same way (409), and the rows are inserted
// with their audit entries in the same transaction. Nothing is imported unless every
// row is. Stateless; runs on a pool connection actor.
#pragma once

#include <pqxx/pqxx>
#include <vector>

#include "suite/envelope.hpp"
#include "suite/result.hpp"

namespace clinic {

inline constexpr std::size_t max_import_rows = 5000;

// The problems of every row of body.patients (empty when all are good).
std::vector<suite::error_detail> check_patient_rows(const msgpack::object& body);

suite::reply import_patients(pqxx::connection& connection, const suite::request& req);

}  // namespace clinic
