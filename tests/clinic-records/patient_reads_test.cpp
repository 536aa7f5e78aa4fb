// patient_reads: one statement answering a batch of patients.get requests, run directly
// on a connection to the fixture's PostgreSQL 15 (its URI in $CLINIC_TEST_PG_STATE/uri),
// so the batch's contents are chosen here rather than left to timing: found, absent,
// deleted, duplicate ids, a bad body and principals that need quoting, each answered in
// order and audited (or not) with its own principal; and one page of patients.list with
// its audit row.
#include "patient_reads.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "migrations.hpp"
#include "suite/msgpack_value.hpp"

namespace {

std::string fixture_uri() {
  const char* state = std::getenv("CLINIC_TEST_PG_STATE");
  REQUIRE_MESSAGE(state != nullptr, "run through ctest: it needs the PostgreSQL fixture");
  std::ifstream in(std::string(state) + "/uri");
  std::string uri;
  std::getline(in, uri);
  return uri;
}

suite::request get_request(std::uint64_t id, const suite::msgpack_value& body,
                           std::string principal, std::string tenant = "clinic-a") {
  suite::request r;
  r.id = id;
  r.op = "patients.get";
  r.tenant = std::move(tenant);
  r.principal = std::move(principal);
  r.body = body;
  return r;
}

suite::msgpack_value id_body(std::int64_t id) {
  return suite::pack_value([&](suite::msgpack_packer& p) {
    p.pack_map(1);
    suite::pack_string(p, "id");
    p.pack_int64(id);
  });
}

}  // namespace

TEST_CASE("text arrays quote every element and escape quotes and backslashes") {
  std::string out;
  clinic::append_text_array(out, {"alice", "", R"(car"ol\x)", "a,b {c}"});
  CHECK(out == R"({"alice","","car\"ol\\x","a,b {c}"})");
  out.clear();
  clinic::append_text_array(out, {});
  CHECK(out == "{}");
}

TEST_CASE("a batch of reads answers each request in order and audits each found patient") {
  pqxx::connection connection(fixture_uri());
  REQUIRE(clinic::apply_migrations(connection));
  clinic::prepare_patient_reads(connection);

  std::string tag = "PR-" + std::to_string(::getpid()) + "-" + std::to_string(std::time(nullptr));
  std::int64_t first = 0, second = 0, deleted = 0;
  {
    pqxx::work txn(connection);
    auto insert = [&](const std::string& suffix) {
      return txn
          .exec1("INSERT INTO patients (clinic_number, first_name, last_name) VALUES (" +
                 txn.quote(tag + suffix) + ", 'Batch', 'Reader') RETURNING id")[0]
          .as<std::int64_t>();
    };
    first = insert("-1");
    second = insert("-2");
    deleted = insert("-3");
    txn.exec0("UPDATE patients SET deleted_at = now() WHERE id = " + std::to_string(deleted));
    txn.commit();
  }
  std::int64_t absent = 0;
  {
    pqxx::nontransaction txn(connection);
    absent = txn.exec1("SELECT max(id) + 1000 FROM patients")[0].as<std::int64_t>();
  }

  std::string odd_principal = R"(car"ol\x, {y})";
  std::vector<suite::request> requests{
      get_request(11, id_body(first), "alice"),
      get_request(12, id_body(absent), "alice"),
      get_request(13, id_body(deleted), "alice"),
      get_request(14, id_body(second), "bob", "clinic-b"),
      get_request(15, suite::empty_map(), "alice"),  // no id: the gateway would have said 400
      get_request(16, id_body(first), odd_principal),
  };
  std::vector<const suite::request*> batch;
  for (const auto& r : requests) batch.push_back(&r);
  auto replies = clinic::get_patients(connection, batch);

  REQUIRE(replies.size() == requests.size());
  for (std::size_t i = 0; i < replies.size(); ++i) CHECK(replies[i].id == requests[i].id);
  auto body_id = [](const suite::reply& r) { return suite::int_field(r.body.object, "id"); };
  CHECK(replies[0].status == 200);
  CHECK(body_id(replies[0]) == first);
  CHECK(suite::string_field(replies[0].body.object, "clinic_number") == tag + "-1");
  CHECK(replies[1].status == 404);
  REQUIRE(replies[1].error);
  REQUIRE(replies[1].error->details.size() == 1);
  CHECK(replies[1].error->details[0].field == "id");
  CHECK(replies[2].status == 404);
  CHECK(replies[3].status == 200);
  CHECK(body_id(replies[3]) == second);
  CHECK(replies[4].status == 400);
  CHECK(replies[5].status == 200);
  CHECK(body_id(replies[5]) == first);

  pqxx::nontransaction txn(connection);
  auto audit = txn.exec(
      "SELECT patient_id, tenant, principal FROM audit_log WHERE action = 'patients.get' AND "
      "patient_id IN (" +
      std::to_string(first) + "," + std::to_string(second) + "," + std::to_string(deleted) +
      ") ORDER BY patient_id, principal");
  REQUIRE(audit.size() == 3);
  CHECK(audit[0][0].as<std::int64_t>() == first);
  CHECK(audit[0][2].as<std::string>() == "alice");
  CHECK(audit[1][0].as<std::int64_t>() == first);
  CHECK(audit[1][2].as<std::string>() == odd_principal);
  CHECK(audit[2][0].as<std::int64_t>() == second);
  CHECK(audit[2][1].as<std::string>() == "clinic-b");
  CHECK(audit[2][2].as<std::string>() == "bob");
}

TEST_CASE("a page of patients is audited with its ids and principal in the same statement") {
  pqxx::connection connection(fixture_uri());
  REQUIRE(clinic::apply_migrations(connection));
  clinic::prepare_patient_reads(connection);
  std::string area = "PL-" + std::to_string(::getpid()) + "-" + std::to_string(std::time(nullptr));
  std::vector<std::int64_t> ids;
  {
    pqxx::work txn(connection);
    for (int i = 0; i < 3; ++i) {
      ids.push_back(txn.exec1("INSERT INTO patients (clinic_number, first_name, last_name, area) "
                              "VALUES (" +
                              txn.quote(area + "-" + std::to_string(i)) + ", 'Page', 'Reader', " +
                              txn.quote(area) + ") RETURNING id")[0]
                        .as<std::int64_t>());
    }
    txn.commit();
  }
  auto body = suite::pack_value([&](suite::msgpack_packer& p) {
    p.pack_map(2);
    suite::pack_string(p, "area");
    suite::pack_string(p, area);
    suite::pack_string(p, "limit");
    p.pack_int64(2);
  });
  auto req = get_request(31, body, "lister");
  req.op = "patients.list";
  auto reply = clinic::list_patients(connection, req);
  REQUIRE(reply.status == 200);
  const auto* items = suite::find_field(reply.body.object, "items");
  REQUIRE(items != nullptr);
  REQUIRE(items->type == msgpack::type::ARRAY);
  REQUIRE(items->via.array.size == 2);
  CHECK(suite::int_field(items->via.array.ptr[0], "id") == ids[0]);
  CHECK(suite::int_field(items->via.array.ptr[1], "id") == ids[1]);
  CHECK(suite::int_field(reply.body.object, "next_after") == ids[1]);

  pqxx::nontransaction txn(connection);
  auto audit = txn.exec1("SELECT principal, detail->'ids' = jsonb_build_array(" +
                         std::to_string(ids[0]) + "," + std::to_string(ids[1]) +
                         ") FROM audit_log WHERE action = 'patients.list' AND detail->'ids' @> '[" +
                         std::to_string(ids[0]) + "]' ORDER BY id DESC LIMIT 1");
  CHECK(audit[0].as<std::string>() == "lister");
  CHECK(audit[1].as<bool>());

  auto bad = suite::pack_value([&](suite::msgpack_packer& p) {
    p.pack_map(1);
    suite::pack_string(p, "limit");
    p.pack_int64(0);
  });
  auto bad_req = get_request(32, bad, "lister");
  auto rejected = clinic::list_patients(connection, bad_req);
  CHECK(rejected.status == 400);
  REQUIRE(rejected.error);
  CHECK(rejected.error->details.at(0).field == "limit");
}
