// clinic-records end to end: the real gateway and the real clinic-records binary over
// real HTTP, on the real PostgreSQL 15 that the ctest fixture started (its URI is in
// $CLINIC_TEST_PG_STATE/uri). Test cases share the database, so each makes its own
// patients (unique clinic numbers) and never depends on what others wrote.
#include <doctest/doctest.h>
#include <rapidjson/document.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <future>
#include <memory>
#include <set>
#include <string>

#include "http_client.hpp"
#include "test_credentials.hpp"
#include "test_process.hpp"

using namespace suite::test;
using namespace std::chrono_literals;

namespace {

std::string env(const char* name) {
  const char* value = std::getenv(name);
  REQUIRE_MESSAGE(
      value != nullptr,
      name << " is not set: run this test through ctest (it needs the PostgreSQL fixture)");
  return value;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

std::string shell(const std::string& command) {
  std::string out;
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
  std::array<char, 4096> buffer{};
  while (pipe && fgets(buffer.data(), buffer.size(), pipe.get())) out += buffer.data();
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

rapidjson::Document parse(const http_response& r) {
  rapidjson::Document d;
  d.Parse(r.body.data(), r.body.size());
  REQUIRE_MESSAGE(!d.HasParseError(), "not JSON: " << r.body);
  return d;
}

// A prefix no other run or test case has used, for clinic numbers and areas.
std::string unique(const std::string& what) {
  static std::atomic<int> counter = 0;
  return what + "-" + std::to_string(::getpid()) + "-" +
         std::to_string(std::time(nullptr) % 100000) + "-" + std::to_string(++counter);
}

// PostgreSQL (from the fixture), clinic-records and the gateway on free ports.
class clinic_stack {
 public:
  clinic_stack() : pg_uri_(read_file(env("CLINIC_TEST_PG_STATE") + "/uri")) {
    bus_ = "tcp://127.0.0.1:" + std::to_string(free_port());
    service_metrics_port_ = free_port();
    http_port_ = free_port();
    service_ = std::make_unique<test_process>(
        bin_dir() + "/clinic-records",
        std::vector<std::string>{"--bus=" + bus_,
                                 "--metrics=127.0.0.1:" + std::to_string(service_metrics_port_),
                                 "--pg=" + pg_uri_, "--pg-pool=3", "--workers=2"});
    gateway_ = std::make_unique<test_process>(
        bin_dir() + "/gateway",
        with_gateway_auth({"--http=127.0.0.1:" + std::to_string(http_port_),
                           "--metrics=127.0.0.1:" + std::to_string(free_port()),
                           "--backend-clinic-records=" + bus_, "--threads=1",
                           "--timeout-ms=5000"}));
    start_service();
    gateway_->start();
    REQUIRE_MESSAGE(
        wait_until([&] { return call("GET", "/api/sys/clinic-records/health").status == 200; },
                   30s),
        "stack did not come up; service log:\n"
            << service_->log() << "\ngateway log:\n"
            << gateway_->log());
  }

  http_response call(const std::string& method, const std::string& target,
                     const std::string& body = {},
                     const std::map<std::string, std::string>& headers = {}) {
    if (!client_) client_ = std::make_unique<http_client>("127.0.0.1", http_port_);
    auto r = client_->request(method, target, body, headers);
    if (r.status == 0) client_.reset();  // reconnect next time
    return r;
  }

  void start_service() {
    service_->start();
    REQUIRE_MESSAGE(
        wait_until([&] { return service_->log().find("msg=ready") != std::string::npos; }, 30s),
        service_->log());
  }
  void crash_service() { service_->kill_hard(); }
  int stop_service() { return service_->stop(); }
  std::string service_metrics() { return http_once(service_metrics_port_, "GET", "/metrics").body; }
  std::string service_log() { return service_->log(); }
  std::string psql(const std::string& sql) {
    return shell("psql '" + pg_uri_ + "' -Atc \"" + sql + "\" 2>&1");
  }
  int http_port() const { return http_port_; }

 private:
  std::string pg_uri_;
  std::string bus_;
  int service_metrics_port_ = 0;
  int http_port_ = 0;
  std::unique_ptr<test_process> service_;
  std::unique_ptr<test_process> gateway_;
  std::unique_ptr<http_client> client_;
};

clinic_stack& stack() {
  static clinic_stack instance;
  return instance;
}

std::string patient_json(const std::string& clinic_number, const std::string& first,
                         const std::string& last, const std::string& extra = {}) {
  return R"({"clinic_number":")" + clinic_number + R"(","first_name":")" + first +
         R"(","last_name":")" + last + "\"" + (extra.empty() ? "" : "," + extra) + "}";
}

std::int64_t create_patient(const std::string& body) {
  auto r = stack().call("POST", "/api/patients", body);
  REQUIRE_MESSAGE(r.status == 201, r.body);
  return parse(r)["id"].GetInt64();
}

std::string id_path(const std::string& base, std::int64_t id) {
  return base + "/" + std::to_string(id);
}

}  // namespace

TEST_CASE("migrations are applied once and recorded") {
  auto& s = stack();
  CHECK(s.psql("SELECT string_agg(version::text, ',' ORDER BY version) FROM schema_migrations") ==
        "1,2,3,4,5");
}

TEST_CASE("patient create, get, update with version, soft delete") {
  auto& s = stack();
  auto number = unique("CN");
  auto r = s.call(
      "POST", "/api/patients",
      patient_json(number, "Amina", "Otieno",
                   R"("date_of_birth":"1990-04-12","gender":"female","phone":"0712000001",)"
                   R"("area":"Kisumu","insurance_type":"sha","insurance_number":"SHA-123")"));
  REQUIRE_MESSAGE(r.status == 201, r.body);
  auto created = parse(r);
  auto id = created["id"].GetInt64();
  CHECK(created["version"].GetInt() == 1);
  CHECK(std::string(created["insurance_type"].GetString()) == "sha");

  r = s.call("GET", id_path("/api/patients", id));
  REQUIRE(r.status == 200);
  CHECK(std::string(parse(r)["first_name"].GetString()) == "Amina");

  SUBCASE("the same clinic number twice is a conflict") {
    r = s.call("POST", "/api/patients", patient_json(number, "Other", "Person"));
    CHECK(r.status == 409);
    CHECK(r.body.find("clinic_number") != std::string::npos);
  }

  SUBCASE("update needs the current version") {
    r = s.call("PUT", id_path("/api/patients", id), R"({"phone":"0799000002"})",
               {{"If-Match", "\"1\""}});
    REQUIRE_MESSAGE(r.status == 200, r.body);
    CHECK(parse(r)["version"].GetInt() == 2);
    CHECK(std::string(parse(r)["phone"].GetString()) == "0799000002");

    r = s.call("PUT", id_path("/api/patients", id), R"({"phone":"0799000003"})",
               {{"If-Match", "\"1\""}});
    CHECK(r.status == 409);
    CHECK(r.body.find("version") != std::string::npos);

    r = s.call("PUT", id_path("/api/patients", id), R"({"area":"Nakuru","version":2})");
    REQUIRE_MESSAGE(r.status == 200, r.body);
    CHECK(parse(r)["version"].GetInt() == 3);

    r = s.call("PUT", id_path("/api/patients", id), R"({"area":"Eldoret"})");
    CHECK(r.status == 400);  // no version at all
    CHECK(std::string(parse(r)["details"][0]["field"].GetString()) == "version");

    r = s.call("GET", id_path("/api/patients", id));
    CHECK(std::string(parse(r)["phone"].GetString()) ==
          "0799000002");  // the stale update changed nothing
    CHECK(std::string(parse(r)["area"].GetString()) == "Nakuru");
  }

  SUBCASE("a deleted patient is 404") {
    r = s.call("DELETE", id_path("/api/patients", id));
    REQUIRE_MESSAGE(r.status == 200, r.body);
    CHECK(s.call("GET", id_path("/api/patients", id)).status == 404);
    CHECK(s.call("DELETE", id_path("/api/patients", id)).status == 404);
    CHECK(s.call("PUT", id_path("/api/patients", id), R"({"area":"X","version":2})").status == 404);
  }

  CHECK(s.call("GET", "/api/patients/999999999").status == 404);
}

TEST_CASE("bad input is a 400 with field details and changes nothing") {
  auto& s = stack();
  auto number = unique("BAD");
  auto first_error_field = [&](const std::string& body) {
    auto r = s.call("POST", "/api/patients", body);
    CHECK(r.status == 400);
    auto error = parse(r);
    REQUIRE_MESSAGE(error.HasMember("details"), r.body);
    REQUIRE(error["details"].Size() >= 1);
    return std::string(error["details"][0]["field"].GetString());
  };
  CHECK(first_error_field(R"({"clinic_number":")" + number + R"(","last_name":"X"})") ==
        "first_name");
  CHECK(first_error_field(patient_json(number, "A", "B", R"("gender":"robot")")) == "gender");
  CHECK(first_error_field(patient_json(number, "A", "B", R"("date_of_birth":"12/04/1990")")) ==
        "date_of_birth");
  CHECK(first_error_field(patient_json(number, "A", "B", R"("phone":"call me")")) == "phone");

  // A date the schema's pattern lets through but the calendar does not.
  auto r = s.call("POST", "/api/patients",
                  patient_json(number, "A", "B", R"("date_of_birth":"1990-13-45")"));
  CHECK(r.status == 400);
  r = s.call("POST", "/api/patients", patient_json(number, "A", "B", R"("unknown_field":1)"));
  CHECK(r.status == 400);
  CHECK(s.call("GET", "/api/patients/not-a-number").status == 400);
  CHECK(s.call("GET", "/api/patients?limit=0").status == 400);

  CHECK(s.psql("SELECT count(*) FROM patients WHERE clinic_number = '" + number + "'") == "0");
}

TEST_CASE("list pages with a keyset cursor") {
  auto& s = stack();
  auto area = unique("AREA");
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 5; ++i) {
    ids.push_back(create_patient(patient_json(unique("L"), "Page", "Person" + std::to_string(i),
                                              R"("area":")" + area + "\"")));
  }
  std::vector<std::int64_t> seen;
  std::string after = "0";
  int pages = 0;
  for (;;) {
    auto r = s.call("GET", "/api/patients?area=" + area + "&limit=2&after=" + after);
    REQUIRE_MESSAGE(r.status == 200, r.body);
    auto page = parse(r);
    for (const auto& p : page["items"].GetArray()) seen.push_back(p["id"].GetInt64());
    ++pages;
    if (page["next_after"].IsNull()) break;
    after = std::to_string(page["next_after"].GetInt64());
    REQUIRE(pages < 10);
  }
  CHECK(seen == ids);
  CHECK(pages == 3);
}

TEST_CASE("search by name (fuzzy), phone, clinic and insurance number (prefix)") {
  auto& s = stack();
  auto number = unique("SRCH");
  auto tag = std::to_string(::getpid() % 10000);
  auto id = create_patient(
      patient_json(number, "Wanjiru", "Kamau" + tag,
                   R"("phone":"07339)" + tag + R"(1","insurance_number":"INS)" + tag + "X\""));
  auto found = [&](const std::string& q) {
    auto r = s.call("GET", "/api/patients/search?q=" + q);
    REQUIRE_MESSAGE(r.status == 200, r.body);
    auto page = parse(r);  // a range-for over parse(r)[...] would outlive the document
    for (const auto& p : page["items"].GetArray()) {
      if (p["id"].GetInt64() == id) return true;
    }
    return false;
  };
  CHECK(found("Wanjiru%20Kamau" + tag));
  CHECK(found("Wanjru%20Kamau" + tag));  // misspelt: trigram similarity
  CHECK(found("07339" + tag));
  CHECK(found(number.substr(0, number.size() - 1)));
  CHECK(found("INS" + tag));
  CHECK_FALSE(found("zzzzqqqq"));
  CHECK(s.call("GET", "/api/patients/search").status == 400);  // q is required
}

TEST_CASE("visits follow their status flow; an illegal move names the allowed ones") {
  auto& s = stack();
  auto patient = create_patient(patient_json(unique("V"), "Visit", "Person"));
  auto r = s.call("POST", "/api/visits",
                  R"({"patient_id":)" + std::to_string(patient) + R"(,"reason":"fever"})");
  REQUIRE_MESSAGE(r.status == 201, r.body);
  auto visit = parse(r)["id"].GetInt64();
  CHECK(std::string(parse(r)["status"].GetString()) == "registered");

  auto move = [&](const std::string& status, const std::string& extra = {}) {
    return s.call("POST", id_path("/api/visits", visit) + "/status",
                  R"({"status":")" + status + "\"" + extra + "}");
  };
  r = move("completed");
  CHECK(r.status == 409);
  CHECK(r.body.find("allowed: cancelled, triaged") != std::string::npos);

  CHECK(move("triaged", R"(,"vitals":{"temperature_c":38.5,"pulse":90})").status == 200);
  CHECK(move("in_consultation").status == 200);
  r = move("completed", R"(,"diagnoses":["A09","J06.9"])");
  REQUIRE_MESSAGE(r.status == 200, r.body);
  CHECK(r.body.find(R"("diagnoses":["A09","J06.9"])") != std::string::npos);
  CHECK(r.body.find(R"("temperature_c":38.5)") != std::string::npos);
  r = move("cancelled");
  CHECK(r.status == 409);
  CHECK(r.body.find("none (final state)") != std::string::npos);

  r = s.call("GET", "/api/visits?patient_id=" + std::to_string(patient) + "&status=completed");
  REQUIRE(r.status == 200);
  CHECK(parse(r)["items"].Size() == 1);
  std::string visit_date =
      parse(s.call("GET", id_path("/api/visits", visit)))["visit_date"].GetString();
  r = s.call("GET", "/api/visits?date=" + visit_date + "&patient_id=" + std::to_string(patient));
  REQUIRE(r.status == 200);
  CHECK(parse(r)["items"].Size() == 1);
  CHECK(s.call("POST", "/api/visits", R"({"patient_id":999999999})").status == 404);
  CHECK(
      s.call("POST", id_path("/api/visits", visit) + "/status", R"({"status":"flying"})").status ==
      400);
}

TEST_CASE("payments move paid, balance and status exactly; overpayment is refused") {
  auto& s = stack();
  auto patient = create_patient(patient_json(unique("P"), "Pay", "Person"));
  auto r = s.call(
      "POST", "/api/invoices",
      R"({"patient_id":)" + std::to_string(patient) +
          R"(,"payer_type":"cash","items":[{"description":"consultation","quantity":2,"unit_price":100.25},)"
          R"({"description":"syringe","tariff_code":"S01","quantity":1,"unit_price":0.10}]})");
  REQUIRE_MESSAGE(r.status == 201, r.body);
  auto invoice = parse(r)["id"].GetInt64();
  CHECK(r.body.find(R"("total":200.60)") != std::string::npos);
  CHECK(r.body.find(R"("status":"unpaid")") != std::string::npos);

  auto pay = [&](const std::string& amount) {
    return s.call("POST", "/api/payments",
                  R"({"invoice_id":)" + std::to_string(invoice) + R"(,"amount":)" + amount +
                      R"(,"method":"mpesa","reference":"QX1"})");
  };
  r = pay("100.50");
  REQUIRE_MESSAGE(r.status == 201, r.body);
  CHECK(r.body.find(R"("paid":100.50,"balance":100.10,"status":"partially_paid")") !=
        std::string::npos);

  r = pay("100.11");
  CHECK(r.status == 400);
  CHECK(std::string(parse(r)["details"][0]["field"].GetString()) == "amount");
  r = s.call("GET", id_path("/api/invoices", invoice));
  CHECK(r.body.find(R"("paid":100.50,"balance":100.10)") != std::string::npos);  // unchanged

  r = pay("100.10");
  REQUIRE_MESSAGE(r.status == 201, r.body);
  CHECK(r.body.find(R"("paid":200.60,"balance":0.00,"status":"paid")") != std::string::npos);
  CHECK(pay("0.01").status == 400);
  CHECK(pay("-5").status == 400);

  r = s.call("GET", id_path("/api/invoices", invoice) + "/payments");
  REQUIRE(r.status == 200);
  CHECK(parse(r)["items"].Size() == 2);
  CHECK(s.psql("SELECT sum(amount) FROM payments WHERE invoice_id = " + std::to_string(invoice)) ==
        "200.60");

  // Reconciliation marks a payment as matched against the statement.
  auto payment = parse(r)["items"][0]["id"].GetInt64();
  r = s.call("POST", id_path("/api/payments", payment) + "/reconcile");
  REQUIRE_MESSAGE(r.status == 200, r.body);
  CHECK(parse(r)["reconciled"].GetBool());
  CHECK(s.call("POST", "/api/payments/999999999/reconcile").status == 404);
}

TEST_CASE("reads and writes of patient data are in the audit log") {
  auto& s = stack();
  auto id = create_patient(patient_json(unique("A"), "Audit", "Person"));
  REQUIRE(s.call("GET", id_path("/api/patients", id)).status == 200);
  REQUIRE(s.call("PUT", id_path("/api/patients", id), R"({"area":"Mombasa","version":1})").status ==
          200);
  auto r = s.call("GET", "/api/audit?patient_id=" + std::to_string(id));
  REQUIRE_MESSAGE(r.status == 200, r.body);
  std::vector<std::string> actions;
  auto page = parse(r);  // a range-for over parse(r)[...] would outlive the document
  for (const auto& e : page["items"].GetArray()) {
    actions.push_back(e["action"].GetString());
    // The gateway's credential, never anything the client sent (test_credentials.hpp).
    CHECK(std::string(e["principal"].GetString()) == "admin");
    CHECK(std::string(e["tenant"].GetString()) == "default");
  }
  CHECK(actions == std::vector<std::string>{"patients.create", "patients.get", "patients.update"});
}

TEST_CASE("roles: billing never reads clinical notes, clinicians do; the audit names who") {
  auto& s = stack();
  auto as = [&](const std::string& who, const std::string& method, const std::string& target,
                const std::string& body = {}) {
    return s.call(method, target, body, api_key_header(who));
  };
  auto created =
      as("clinician", "POST", "/api/patients", patient_json(unique("R"), "Role", "Person"));
  REQUIRE_MESSAGE(created.status == 201, created.body);
  auto patient = parse(created)["id"].GetInt64();
  auto visit = as("clinician", "POST", "/api/visits",
                  R"({"patient_id":)" + std::to_string(patient) + R"(,"reason":"private notes"})");
  REQUIRE_MESSAGE(visit.status == 201, visit.body);
  auto visit_path = id_path("/api/visits", parse(visit)["id"].GetInt64());

  auto denied = as("billing", "GET", visit_path);
  CHECK(denied.status == 403);
  CHECK(denied.body.find(R"("code":"forbidden")") != std::string::npos);
  CHECK(denied.body.find("private notes") == std::string::npos);
  CHECK(as("billing", "GET", "/api/visits?patient_id=" + std::to_string(patient)).status == 403);
  CHECK(as("billing", "GET", id_path("/api/patients", patient)).status == 200);
  CHECK(as("clinician", "GET", visit_path).status == 200);
  CHECK(as("clinician", "GET", "/api/reports/financial?from=2020-01-01&to=2020-01-31").status ==
        403);
  CHECK(as("clinician", "GET", "/api/audit").status == 403);
  CHECK(as("billing", "GET", "/api/audit").status == 403);
  CHECK(as("no-roles", "GET", id_path("/api/patients", patient)).status == 403);

  // Only the refused read is missing from the audit log: a 403 never reached the service.
  auto audit = s.call("GET", "/api/audit?patient_id=" + std::to_string(patient));
  REQUIRE_MESSAGE(audit.status == 200, audit.body);
  std::vector<std::string> entries;
  auto page = parse(audit);  // kept: a range-for over parse(audit)[...] outlives it
  for (const auto& e : page["items"].GetArray()) {
    entries.push_back(std::string(e["principal"].GetString()) + " " + e["action"].GetString());
  }
  CHECK(entries == std::vector<std::string>{"clinician patients.create", "clinician visits.create",
                                            "billing patients.get", "clinician visits.get"});
}

// Many reads in flight against 3 connections: the pool answers queued patients.get jobs in
// batches (one statement each). Whatever the batching, every read gets its own patient
// (or its own 404) and leaves exactly one audit row.
TEST_CASE("concurrent reads are each answered with their own patient and audited once") {
  auto& s = stack();
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 4; ++i) {
    ids.push_back(create_patient(patient_json(unique("C"), "Concurrent", "Reader")));
  }
  auto missing = ids.back() + 1000000;
  constexpr int clients = 12, reads_per_client = 20;
  std::atomic<int> wrong = 0;
  std::vector<std::future<void>> done;
  for (int c = 0; c < clients; ++c) {
    done.push_back(std::async(std::launch::async, [&, c] {
      http_client client("127.0.0.1", s.http_port());
      for (int n = 0; n < reads_per_client; ++n) {
        bool ask_missing = (c + n) % 5 == 0;
        auto id = ask_missing ? missing : ids[(c + n) % ids.size()];
        auto r = client.request("GET", id_path("/api/patients", id));
        rapidjson::Document d;
        d.Parse(r.body.data(), r.body.size());
        bool ok = ask_missing ? r.status == 404
                              : r.status == 200 && !d.HasParseError() && d["id"].GetInt64() == id;
        if (!ok) ++wrong;
      }
    }));
  }
  for (auto& f : done) f.get();
  CHECK(wrong == 0);
  int expected_audits = 0;
  for (int c = 0; c < clients; ++c) {
    for (int n = 0; n < reads_per_client; ++n) expected_audits += (c + n) % 5 == 0 ? 0 : 1;
  }
  std::string id_list;
  for (auto id : ids) id_list += (id_list.empty() ? "" : ",") + std::to_string(id);
  CHECK(s.psql("SELECT count(*) FROM audit_log WHERE action = 'patients.get' AND patient_id IN (" +
               id_list + ")") == std::to_string(expected_audits));
  CHECK(s.psql("SELECT count(*) FROM audit_log WHERE patient_id = " + std::to_string(missing)) ==
        "0");
  auto metrics = s.service_metrics();
  CHECK(metrics.find("suite_clinic_records_pg_batch_size_count") != std::string::npos);
}

TEST_CASE("pool metrics are exported") {
  auto text = stack().service_metrics();
  CHECK(text.find("suite_clinic_records_pg_pool_connections 3") != std::string::npos);
  CHECK(text.find("suite_clinic_records_pg_pool_size 3") != std::string::npos);
  CHECK(text.find("suite_clinic_records_pg_pool_in_use") != std::string::npos);
  CHECK(text.find("suite_clinic_records_pg_pool_wait_seconds_count") != std::string::npos);
}

TEST_CASE("acknowledged writes survive a SIGKILL of the service") {
  auto& s = stack();
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 20; ++i)
    ids.push_back(create_patient(patient_json(unique("K"), "Crash", "Person")));
  s.crash_service();
  s.start_service();
  REQUIRE(wait_until([&] { return s.call("GET", "/api/sys/clinic-records/health").status == 200; },
                     30s));
  for (auto id : ids) CHECK(s.call("GET", id_path("/api/patients", id)).status == 200);
  CHECK(s.psql("SELECT count(*) FROM schema_migrations") == "5");  // nothing applied twice

  CHECK(s.stop_service() == 0);  // SIGTERM: the pool's actors stop and the process exits cleanly
  s.start_service();
  REQUIRE(wait_until([&] { return s.call("GET", "/api/sys/clinic-records/health").status == 200; },
                     30s));
}

TEST_CASE("PostgreSQL restarts under the service; requests succeed again without restarting it") {
  auto& s = stack();
  auto id = create_patient(patient_json(unique("R"), "Restart", "Person"));
  REQUIRE(std::system(("'" + env("CLINIC_TEST_PG_SCRIPT") + "' restart '" +
                       env("CLINIC_TEST_PG_STATE") + "'")
                          .c_str()) == 0);
  // Every pool connection was closed by the restart. Writes first, from several clients
  // at once so that every connection of the pool is used, then reads.
  std::vector<std::future<int>> writes;
  for (int i = 0; i < 6; ++i) {
    writes.push_back(std::async(std::launch::async, [&s, i] {
      return http_once(s.http_port(), "POST", "/api/patients",
                       patient_json(unique("R") + "-" + std::to_string(i), "After", "Restart"))
          .status;
    }));
  }
  for (auto& w : writes) CHECK(w.get() == 201);
  for (int i = 0; i < 3; ++i) {
    auto r = s.call("GET", id_path("/api/patients", id));
    CHECK_MESSAGE(r.status == 200, r.body);
  }
  CHECK(s.service_metrics().find("suite_clinic_records_pg_reconnects_total 0") ==
        std::string::npos);
}

namespace {

std::int64_t create_visit(std::int64_t patient, const std::string& date) {
  auto r = stack().call(
      "POST", "/api/visits",
      R"({"patient_id":)" + std::to_string(patient) + R"(,"visit_date":")" + date + "\"}");
  REQUIRE_MESSAGE(r.status == 201, r.body);
  return parse(r)["id"].GetInt64();
}

// items: JSON array text
std::int64_t create_invoice(std::int64_t patient, const std::string& payer,
                            const std::string& issued_on, const std::string& items,
                            std::int64_t visit = 0) {
  auto r =
      stack().call("POST", "/api/invoices",
                   R"({"patient_id":)" + std::to_string(patient) + R"(,"payer_type":")" + payer +
                       R"(","issued_on":")" + issued_on + R"(","items":)" + items +
                       (visit ? R"(,"visit_id":)" + std::to_string(visit) : std::string()) + "}");
  REQUIRE_MESSAGE(r.status == 201, r.body);
  return parse(r)["id"].GetInt64();
}

void pay(std::int64_t invoice, const std::string& amount, const std::string& method,
         const std::string& paid_on) {
  auto r = stack().call("POST", "/api/payments",
                        R"({"invoice_id":)" + std::to_string(invoice) + R"(,"amount":)" + amount +
                            R"(,"method":")" + method + R"(","paid_on":")" + paid_on + "\"}");
  REQUIRE_MESSAGE(r.status == 201, r.body);
}

std::int64_t create_claim(std::int64_t visit, std::int64_t invoice) {
  auto r = stack().call(
      "POST", "/api/sha/claims",
      R"({"visit_id":)" + std::to_string(visit) + R"(,"invoice_id":)" + std::to_string(invoice) +
          R"(,"beneficiary_id":"BEN-1","facility_level":3,"primary_diagnosis":"A09",)"
          R"("secondary_diagnoses":["E11.9"],"preauthorizations":{"SHA-OPD-01":"PA-77"}})");
  REQUIRE_MESSAGE(r.status == 201, r.body);
  return parse(r)["id"].GetInt64();
}

http_response move_claim(std::int64_t claim, const std::string& status,
                         const std::string& extra = {}) {
  return stack().call("POST", id_path("/api/sha/claims", claim) + "/status",
                      R"({"status":")" + status + "\"" + extra + "}");
}

http_response submit_batch(const std::string& ids) {
  return stack().call("POST", "/api/sha/batches", R"({"claim_ids":[)" + ids + "]}");
}

}  // namespace

TEST_CASE(
    "SHA claims: made from a visit and its invoice, moved through their flow, submitted in "
    "batches") {
  auto& s = stack();
  auto patient =
      create_patient(patient_json(unique("SHA"), "Claim", "Person", R"("insurance_type":"sha")"));
  auto visit = create_visit(patient, "2026-01-10");
  auto invoice = create_invoice(
      patient, "sha", "2026-01-10",
      R"([{"description":"consultation","tariff_code":"SHA-OPD-01","quantity":1,"unit_price":1500.00},)"
      R"({"description":"lab","tariff_code":"LAB-02","quantity":2,"unit_price":125.25}])",
      visit);
  auto r = s.call("POST", "/api/sha/claims",
                  R"({"visit_id":)" + std::to_string(visit) + R"(,"invoice_id":)" +
                      std::to_string(invoice) +
                      R"(,"beneficiary_id":"BEN-1","facility_level":7,"primary_diagnosis":"A09"})");
  CHECK(r.status == 400);  // facility level 1-6
  auto claim = create_claim(visit, invoice);
  r = s.call("GET", id_path("/api/sha/claims", claim));
  REQUIRE(r.status == 200);
  CHECK(r.body.find(R"("claimed_amount":1750.50)") != std::string::npos);
  CHECK(r.body.find(R"("status":"draft")") != std::string::npos);
  CHECK(r.body.find(R"("preauth_number":"PA-77")") != std::string::npos);
  CHECK(r.body.find(R"("secondary_diagnoses":["E11.9"])") != std::string::npos);

  CHECK(s.call("POST", "/api/sha/claims",
               R"({"visit_id":)" + std::to_string(visit) + R"(,"invoice_id":)" +
                   std::to_string(invoice) +
                   R"(,"beneficiary_id":"BEN-1","facility_level":3,"primary_diagnosis":"A09"})")
            .status == 409);  // one claim per invoice
  auto cash_invoice = create_invoice(
      patient, "cash", "2026-01-10",
      R"([{"description":"x","tariff_code":"T","quantity":1,"unit_price":1.00}])", visit);
  CHECK(s.call("POST", "/api/sha/claims",
               R"({"visit_id":)" + std::to_string(visit) + R"(,"invoice_id":)" +
                   std::to_string(cash_invoice) +
                   R"(,"beneficiary_id":"BEN-1","facility_level":3,"primary_diagnosis":"A09"})")
            .status == 400);

  r = move_claim(claim, "approved", R"(,"approved_amount":100.00)");
  CHECK(r.status == 409);
  CHECK(r.body.find("allowed: ready_to_submit") != std::string::npos);
  REQUIRE(move_claim(claim, "ready_to_submit").status == 200);
  CHECK(move_claim(claim, "submitted").status == 409);  // only through a batch

  auto other_visit = create_visit(patient, "2026-01-11");
  auto other_invoice = create_invoice(
      patient, "sha", "2026-01-11",
      R"([{"description":"x-ray","tariff_code":"RAD-1","quantity":1,"unit_price":200.00}])",
      other_visit);
  auto draft_claim = create_claim(other_visit, other_invoice);
  r = submit_batch(std::to_string(claim) + "," + std::to_string(draft_claim));
  CHECK(r.status == 409);
  CHECK(r.body.find(std::to_string(draft_claim) + " (draft)") != std::string::npos);
  CHECK(
      s.call("GET", id_path("/api/sha/claims", claim)).body.find(R"("status":"ready_to_submit")") !=
      std::string::npos);  // the failed batch changed nothing

  r = submit_batch(std::to_string(claim));
  REQUIRE_MESSAGE(r.status == 201, r.body);
  auto batch = parse(r)["id"].GetInt64();
  CHECK(r.body.find(R"("claim_count":1,"total_claimed":1750.50)") != std::string::npos);
  CHECK(s.call("GET", id_path("/api/sha/batches", batch)).status == 200);
  r = s.call("GET", "/api/sha/claims?batch_id=" + std::to_string(batch));
  CHECK(parse(r)["items"].Size() == 1);
  CHECK(r.body.find(R"("status":"submitted")") != std::string::npos);

  CHECK(move_claim(claim, "approved", R"(,"approved_amount":1750.51)").status == 400);
  REQUIRE(move_claim(claim, "approved", R"(,"approved_amount":1700.00)").status == 200);
  CHECK(move_claim(claim, "paid", R"(,"amount":1000.00)").status == 400);  // leaves 700 unpaid
  r = move_claim(claim, "partially_paid", R"(,"amount":1000.00)");
  REQUIRE_MESSAGE(r.status == 200, r.body);
  CHECK(r.body.find(R"("paid_amount":1000.00,"status":"partially_paid")") != std::string::npos);
  CHECK(move_claim(claim, "paid", R"(,"amount":700.01)").status == 400);
  r = move_claim(claim, "paid", R"(,"amount":700.00)");
  REQUIRE_MESSAGE(r.status == 200, r.body);
  CHECK(r.body.find(R"("paid_amount":1700.00,"status":"paid")") != std::string::npos);

  // Rejection needs a reason; a rejected claim can be corrected as a draft.
  REQUIRE(move_claim(draft_claim, "ready_to_submit").status == 200);
  REQUIRE(submit_batch(std::to_string(draft_claim)).status == 201);
  CHECK(move_claim(draft_claim, "rejected").status == 400);
  r = move_claim(draft_claim, "rejected", R"(,"reason":"beneficiary not eligible")");
  REQUIRE(r.status == 200);
  CHECK(r.body.find(R"("rejection_reason":"beneficiary not eligible")") != std::string::npos);
  CHECK(move_claim(draft_claim, "draft").status == 200);
}

// A small data set in 2019 (no other test writes dates before 2026), with every figure
// of the report worked out by hand below.
TEST_CASE("financial report figures match hand-computed values") {
  auto& s = stack();
  auto cash_patient = create_patient(patient_json(unique("RPT"), "Report", "Cash"));
  auto sha_patient =
      create_patient(patient_json(unique("RPT"), "Report", "Sha", R"("insurance_type":"sha")"));
  auto item = [](const std::string& qty, const std::string& price,
                 const std::string& tariff = "T-1") {
    return R"([{"description":"item","tariff_code":")" + tariff + R"(","quantity":)" + qty +
           R"(,"unit_price":)" + price + "}]";
  };
  // Invoices (issued, total, payments) and their age at 2019-04-30:
  auto i1 = create_invoice(cash_patient, "cash", "2019-03-01",
                           item("1", "1000.00"));  // 60 days, balance 349.50
  pay(i1, "400.00", "cash", "2019-03-01");
  pay(i1, "250.50", "mpesa", "2019-03-15");
  auto i2 = create_invoice(cash_patient, "private", "2019-02-10",
                           item("2", "300.25"));  // 600.50, fully paid
  pay(i2, "600.50", "bank_transfer", "2019-04-02");
  create_invoice(cash_patient, "cash", "2019-01-15", item("1", "80.00"));     // 105 days
  create_invoice(cash_patient, "cash", "2018-12-01", item("1", "50.00"));     // 150 days
  create_invoice(cash_patient, "private", "2019-04-20", item("1", "99.99"));  // 10 days
  create_invoice(cash_patient, "private", "2019-02-15", item("1", "10.01"));  // 74 days
  create_invoice(cash_patient, "cash", "2019-05-02", item("1", "5000.00"));   // after the range
  pay(i1, "0.50", "cash",
      "2019-05-03");  // after the range: not revenue, but balances are today's: 349.00
  // SHA: visit 2019-03-20, invoice 1750.50 (41 days), claim approved 1700.00, 1000.00 paid.
  auto v1 = create_visit(sha_patient, "2019-03-20");
  auto i4 = create_invoice(
      sha_patient, "sha", "2019-03-20",
      R"([{"description":"c","tariff_code":"SHA-OPD-01","quantity":1,"unit_price":1500.00},)"
      R"({"description":"l","tariff_code":"LAB-02","quantity":2,"unit_price":125.25}])",
      v1);
  auto c1 = create_claim(v1, i4);
  REQUIRE(move_claim(c1, "ready_to_submit").status == 200);
  // SHA: visit 2019-04-05, invoice 200.00 (25 days), claim rejected.
  auto v2 = create_visit(sha_patient, "2019-04-05");
  auto i8 = create_invoice(sha_patient, "sha", "2019-04-05", item("1", "200.00", "RAD-1"), v2);
  auto c2 = create_claim(v2, i8);
  REQUIRE(move_claim(c2, "ready_to_submit").status == 200);
  REQUIRE(submit_batch(std::to_string(c1) + "," + std::to_string(c2)).status == 201);
  REQUIRE(move_claim(c1, "approved", R"(,"approved_amount":1700.00)").status == 200);
  REQUIRE(move_claim(c1, "partially_paid", R"(,"amount":1000.00)").status == 200);
  REQUIRE(move_claim(c2, "rejected", R"(,"reason":"no pre-authorisation")").status == 200);

  auto r = s.call("GET", "/api/reports/financial?from=2019-03-01&to=2019-04-30");
  REQUIRE_MESSAGE(r.status == 200, r.body);
  const auto& body = r.body;
  auto has = [&](const std::string& part) {
    CHECK_MESSAGE(body.find(part) != std::string::npos, "missing " << part << " in " << body);
  };
  // Revenue: 400.00 + 250.50 (March) + 600.50 (April) = 1251.00.
  has(R"("revenue_total":1251.00)");
  // Invoiced in range: 1000.00 + 99.99 + 1750.50 + 200.00 = 3050.49.
  has(R"("invoiced_total":3050.49)");
  has(R"("revenue_by_day":[{"day":"2019-03-01","amount":400.00,"payments":1},)"
      R"({"day":"2019-03-15","amount":250.50,"payments":1},{"day":"2019-04-02","amount":600.50,"payments":1}])");
  has(R"("revenue_by_month":[{"month":"2019-03","amount":650.50,"payments":2},)"
      R"({"month":"2019-04","amount":600.50,"payments":1}])");
  has(R"("revenue_by_payer":[{"payer_type":"cash","amount":650.50,"payments":2},)"
      R"({"payer_type":"private","amount":600.50,"payments":1}])");
  // Aging at 2019-04-30: 0-30: 99.99 + 200.00; 31-60: 349.00 + 1750.50; 61-90: 10.01;
  // 90+: 80.00 + 50.00. Total 2539.50 over 7 invoices (the May invoice is not yet issued).
  has(R"("receivables_aging":{"as_of":"2019-04-30","0_30":299.99,"31_60":2099.50,"61_90":10.01,)"
      R"("90_plus":130.00,"total":2539.50,"invoices":7})");
  has(R"("claims_by_status":[{"status":"partially_paid","claims":1,"claimed":1750.50,"approved":1700.00,)"
      R"("paid":1000.00},{"status":"rejected","claims":1,"claimed":200.00,"approved":0.00,"paid":0.00}])");

  CHECK(s.call("GET", "/api/reports/financial?from=2019-05-01&to=2019-04-30").status == 400);
  CHECK(s.call("GET", "/api/reports/financial?from=2019-05-01").status == 400);
}

TEST_CASE("bulk import: all or nothing, with every bad row reported") {
  auto& s = stack();
  auto prefix = unique("BULK");
  auto row = [&](int i, const std::string& extra = {}) {
    return R"({"clinic_number":")" + prefix + "-" + std::to_string(i) +
           R"(","first_name":"Bulk","last_name":"Row)" + std::to_string(i) + "\"" +
           (extra.empty() ? "" : "," + extra) + "}";
  };
  auto count_imported = [&] {
    return s.psql("SELECT count(*) FROM patients WHERE clinic_number LIKE '" + prefix + "-%'");
  };

  std::string rows = row(0) + "," + row(1, R"("date_of_birth":"1999-02-30")") + "," + row(2) + "," +
                     row(3, R"("gender":"unknown")");
  auto r = s.call("POST", "/api/patients/bulk", R"({"patients":[)" + rows + "]}");
  CHECK(r.status == 400);
  auto error = parse(r);
  REQUIRE(error["details"].Size() == 2);
  CHECK(std::string(error["details"][0]["field"].GetString()) == "patients[1].date_of_birth");
  CHECK(std::string(error["details"][1]["field"].GetString()) == "patients[3].gender");
  CHECK(count_imported() == "0");

  std::string good;
  for (int i = 0; i < 300; ++i)
    good += (i ? "," : "") + row(i, R"("phone":"0700)" + std::to_string(100000 + i) + "\"");
  r = s.call("POST", "/api/patients/bulk", R"({"patients":[)" + good + "]}");
  REQUIRE_MESSAGE(r.status == 201, r.body);
  auto imported = parse(r);
  CHECK(imported["imported"].GetInt() == 300);
  REQUIRE(imported["ids"].Size() == 300);
  r = s.call("GET", id_path("/api/patients", imported["ids"][299].GetInt64()));
  CHECK(r.body.find(prefix + "-299") != std::string::npos);
  CHECK(count_imported() == "300");

  // A clinic number already in the database: 409 naming the row, nothing imported.
  auto other = unique("BULK2");
  r = s.call("POST", "/api/patients/bulk",
             R"({"patients":[{"clinic_number":")" + other +
                 R"(","first_name":"N","last_name":"New"},)" + row(7) + "]}");
  CHECK(r.status == 409);
  CHECK(std::string(parse(r)["details"][0]["field"].GetString()) == "patients[1].clinic_number");
  CHECK(s.psql("SELECT count(*) FROM patients WHERE clinic_number = '" + other + "'") == "0");
  CHECK(s.psql("SELECT count(*) FROM audit_log WHERE action = 'patients.bulk' AND entity_id = " +
               std::to_string(imported["ids"][0].GetInt64())) == "1");
}
