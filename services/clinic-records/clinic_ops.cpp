#include "clinic_ops.hpp"

#include "patient_import.hpp"
#include "patient_reads.hpp"
#include "suite/json_msgpack.hpp"

namespace clinic {

const std::vector<clinic_op>& clinic_op_table() {
  static const std::vector<clinic_op> table{
      {"patients.create", "patient_create", 201, false},
      {"patients.get", "", 200, true},  // its own statement (patient_reads.hpp)
      {"patients.update", "patient_update", 200, false},
      {"patients.delete", "patient_delete", 200, false},
      {"patients.list", "", 200, true},  // its own statement (patient_reads.hpp)
      {"patients.search", "patient_search", 200, true},
      {"visits.create", "visit_create", 201, false},
      {"visits.get", "visit_get", 200, true},
      {"visits.list", "visit_list", 200, true},
      {"visits.transition", "visit_transition", 200, false},
      {"invoices.create", "invoice_create", 201, false},
      {"invoices.get", "invoice_get", 200, true},
      {"invoices.list", "invoice_list", 200, true},
      {"payments.create", "payment_create", 201, false},
      {"payments.list", "payment_list", 200, true},
      {"payments.reconcile", "payment_reconcile", 200, false},
      {"claims.create", "claim_create", 201, false},
      {"claims.get", "claim_get", 200, true},
      {"claims.list", "claim_list", 200, true},
      {"claims.transition", "claim_transition", 200, false},
      {"batches.create", "claim_batch_create", 201, false},
      {"batches.get", "claim_batch_get", 200, true},
      {"batches.list", "claim_batch_list", 200, true},
      {"reports.financial", "report_financial", 200, true},
      {"audit.list", "audit_list", 200, true},
  };
  return table;
}

namespace {

suite::reply call_function(pqxx::connection& connection, const suite::request& req,
                           const clinic_op& op) {
  std::string body_json;
  suite::msgpack_to_json(req.body.object, body_json);
  pqxx::nontransaction txn(connection);
  auto row = txn.exec_prepared1(op.op, body_json, req.tenant, req.principal);
  auto field = row[0];
  auto body = suite::json_to_msgpack(std::string_view(field.c_str(), field.size()), nullptr);
  if (!body) return suite::error_reply(req.id, body.error());
  return suite::ok_reply(req.id, std::move(*body), op.success_status);
}

}  // namespace

pg_ops make_clinic_pg_ops() {
  pg_ops ops;
  for (const auto& op : clinic_op_table()) {
    ops[op.op] = pg_op{
        [&op](pqxx::connection& c, const suite::request& r) { return call_function(c, r, op); },
        op.read_only, nullptr};
  }
  // One statement for one or many reads, audit rows included (patient_reads.hpp).
  ops["patients.get"] = pg_op{[](pqxx::connection& c, const suite::request& r) {
                                return std::move(get_patients(c, {&r}).front());
                              },
                              true, get_patients};
  ops["patients.list"] = pg_op{list_patients, true, nullptr};
  // Not one function call: checked here, then COPY (patient_import.hpp).
  ops["patients.bulk"] = pg_op{import_patients, false, nullptr};
  return ops;
}

void prepare_clinic_statements(pqxx::connection& connection) {
  prepare_patient_reads(connection);
  for (const auto& op : clinic_op_table()) {
    if (op.function.empty()) continue;
    // A read's only write is its audit row; committing it without waiting for the WAL
    // flush keeps an fsync off every read (see the header).
    connection.prepare(op.op,
                       "SELECT " + op.function + "($1::json, $2, $3)" +
                           (op.read_only ? ", set_config('synchronous_commit', 'off', true)" : ""));
  }
}

}  // namespace clinic
