// clinic_records_bench: latency and throughput of the five patient endpoints through
// the real gateway, the real clinic-records and a PostgreSQL you point it at. It starts
// clinic-records and the gateway on free ports, seeds patients with the bulk import,
// then runs each endpoint closed loop (each client sends its next request when the
// last one is answered) for a fixed time and prints p50 / p99 / max and req/s.
// Not a test: it asserts nothing and is not registered with ctest.
// The gateway runs one HTTP thread by default here. With --threads=2 it used to crash
// (SIGSEGV) under concurrent POST bodies: a rapidjson regex race, fixed in
// common/src/json_msgpack.cpp; services/clinic-records/bench/run.sh uses 2 threads.
//
//   build/bin/clinic_records_bench --pg=postgresql://suite@127.0.0.1:55432/suite
//       [--patients=10000] [--clients=16] [--seconds=10] [--pool=8] [--workers=2]
//       [--gateway-threads=1] [--phases=list,create,get,update,delete]
//       [--id-range=1:100000]   (reuse patients seeded by an earlier run: no seeding)
#include <rapidjson/document.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "http_client.hpp"
#include "test_credentials.hpp"
#include "test_process.hpp"

using namespace suite::test;
using clock_type = std::chrono::steady_clock;

namespace {

std::map<std::string, std::string> parse_flags(int argc, char** argv) {
  std::map<std::string, std::string> flags{{"patients", "10000"},
                                           {"clients", "16"},
                                           {"seconds", "10"},
                                           {"pool", "8"},
                                           {"workers", "2"},
                                           {"gateway-threads", "1"},
                                           {"phases", "list,create,get,update,delete"}};
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto eq = arg.find('=');
    if (arg.rfind("--", 0) != 0 || eq == std::string::npos) {
      std::fprintf(stderr,
                   "usage: %s --pg=URI [--patients=N] [--clients=N] [--seconds=N] [--pool=N]\n",
                   argv[0]);
      std::exit(2);
    }
    flags[arg.substr(2, eq - 2)] = arg.substr(eq + 1);
  }
  if (!flags.count("pg")) {
    std::fprintf(stderr, "--pg=URI is required\n");
    std::exit(2);
  }
  return flags;
}

struct client_result {
  std::vector<double> latencies_ms;
  std::size_t failures = 0;
  std::string first_failure;
};

// The last answer of each client thread, so a failure can be shown.
thread_local http_response last_response;

bool expect(http_response r, int status) {
  bool ok = r.status == status;
  last_response = std::move(r);
  return ok;
}

// Runs `request(client, n)` from `clients` threads, each with its own keep-alive
// connection, for `seconds`; `request` returns whether the answer was a success.
void run_phase(const char* name, int port, int clients, int seconds,
               const std::function<bool(http_client&, int client, std::size_t n)>& request) {
  std::vector<client_result> results(clients);
  std::vector<std::thread> threads;
  auto deadline = clock_type::now() + std::chrono::seconds(seconds);
  auto started = clock_type::now();
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      auto client = std::make_unique<http_client>("127.0.0.1", port);
      auto& mine = results[c];
      mine.latencies_ms.reserve(100000);
      for (std::size_t n = 0; clock_type::now() < deadline; ++n) {
        auto t0 = clock_type::now();
        bool ok = request(*client, c, n);
        mine.latencies_ms.push_back(
            std::chrono::duration<double, std::milli>(clock_type::now() - t0).count());
        if (!ok) {
          if (mine.failures++ == 0) {
            mine.first_failure =
                std::to_string(last_response.status) + " " + last_response.body.substr(0, 300);
          }
          if (last_response.status == 0) client = std::make_unique<http_client>("127.0.0.1", port);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  double elapsed = std::chrono::duration<double>(clock_type::now() - started).count();
  std::vector<double> all;
  std::size_t failures = 0;
  for (auto& r : results) {
    all.insert(all.end(), r.latencies_ms.begin(), r.latencies_ms.end());
    failures += r.failures;
  }
  std::sort(all.begin(), all.end());
  auto pct = [&](double p) {
    return all.empty() ? 0.0 : all[std::min(all.size() - 1, std::size_t(p * all.size()))];
  };
  std::printf("| %-26s | %8.2f | %8.2f | %8.2f | %9.0f | %8zu | %6zu |\n", name, pct(0.50),
              pct(0.99), all.empty() ? 0.0 : all.back(), all.size() / elapsed, all.size(),
              failures);
  for (auto& r : results) {
    if (!r.first_failure.empty()) {
      std::printf("|   first failure: %s\n", r.first_failure.c_str());
      break;
    }
  }
  std::fflush(stdout);
}

std::string patient_body(const std::string& clinic_number, std::size_t i) {
  return R"({"clinic_number":")" + clinic_number +
         R"(","first_name":"Bench","last_name":"Patient)" + std::to_string(i) + R"(","phone":"07)" +
         std::to_string(10000000 + i % 89999999) +
         R"(","gender":"female","date_of_birth":"1990-01-01","insurance_type":"cash","area":"Nairobi"})";
}

}  // namespace

int main(int argc, char** argv) {
  auto flags = parse_flags(argc, argv);
  int patients = std::stoi(flags["patients"]);
  int clients = std::stoi(flags["clients"]);
  int seconds = std::stoi(flags["seconds"]);
  std::string run = std::to_string(::getpid()) + "-" + std::to_string(std::time(nullptr));

  auto bus = "tcp://127.0.0.1:" + std::to_string(free_port());
  int http_port = free_port();
  test_process service(
      bin_dir() + "/clinic-records",
      {"--bus=" + bus, "--metrics=127.0.0.1:" + std::to_string(free_port()), "--pg=" + flags["pg"],
       "--pg-pool=" + flags["pool"], "--workers=" + flags["workers"], "--log-level=warn"});
  test_process gateway(
      bin_dir() + "/gateway",
      with_gateway_auth({"--http=127.0.0.1:" + std::to_string(http_port),
                         "--metrics=127.0.0.1:" + std::to_string(free_port()),
                         "--backend-clinic-records=" + bus, "--threads=" + flags["gateway-threads"],
                         "--log-level=warn", "--rate-limit=0"}));
  service.start();
  gateway.start();
  if (!wait_until(
          [&] {
            return http_once(http_port, "GET", "/api/sys/clinic-records/health").status == 200;
          },
          std::chrono::seconds(30))) {
    std::fprintf(stderr, "the stack did not come up:\n%s\n%s\n", service.log().c_str(),
                 gateway.log().c_str());
    return 1;
  }

  // Seed with the bulk import, 5,000 rows a request.
  std::vector<std::int64_t> ids;
  // --id-range=FIRST:LAST reuses patients an earlier run seeded (a fresh database numbers
  // them 1..N) instead of seeding again.
  if (flags.count("id-range")) {
    const auto& range = flags["id-range"];
    auto colon = range.find(':');
    std::int64_t first = std::stoll(range.substr(0, colon));
    std::int64_t last = std::stoll(range.substr(colon + 1));
    for (auto id = first; id <= last; ++id) ids.push_back(id);
    patients = 0;
  }
  http_client seeder("127.0.0.1", http_port);
  auto seed_started = clock_type::now();
  for (int done = 0; done < patients;) {
    int n = std::min(5000, patients - done);
    std::string body = R"({"patients":[)";
    for (int i = 0; i < n; ++i) {
      if (i) body += ",";
      body += patient_body("BS-" + run + "-" + std::to_string(done + i), done + i);
    }
    body += "]}";
    auto r = seeder.request("POST", "/api/patients/bulk", body);
    if (r.status != 201) {
      std::fprintf(stderr, "seeding failed: %d %s\n", r.status, r.body.substr(0, 500).c_str());
      return 1;
    }
    rapidjson::Document d;
    d.Parse(r.body.data(), r.body.size());
    for (const auto& id : d["ids"].GetArray()) ids.push_back(id.GetInt64());
    done += n;
  }
  if (patients > 0)
    std::printf("seeded %d patients in %.1f s (bulk import, COPY)\n", patients,
                std::chrono::duration<double>(clock_type::now() - seed_started).count());
  std::printf("clients=%d seconds=%d pool=%s workers=%s gateway-threads=%s\n\n", clients, seconds,
              flags["pool"].c_str(), flags["workers"].c_str(), flags["gateway-threads"].c_str());
  std::printf("| %-26s | %8s | %8s | %8s | %9s | %8s | %6s |\n", "endpoint", "p50 ms", "p99 ms",
              "max ms", "req/s", "requests", "errors");
  std::printf("|%s|%s|%s|%s|%s|%s|%s|\n", std::string(28, '-').c_str(),
              std::string(10, '-').c_str(), std::string(10, '-').c_str(),
              std::string(10, '-').c_str(), std::string(11, '-').c_str(),
              std::string(10, '-').c_str(), std::string(8, '-').c_str());

  auto wanted = [&](const char* phase) {
    return ("," + flags["phases"] + ",").find("," + std::string(phase) + ",") != std::string::npos;
  };
  auto random_id = [&](int client, std::size_t n) {
    return ids[(static_cast<std::size_t>(client) * 7919 + n * 104729) % ids.size()];
  };
  if (wanted("list"))
    run_phase("GET /api/patients", http_port, clients, seconds,
              [&](http_client& c, int client, std::size_t n) {
                return expect(c.request("GET", "/api/patients?limit=20&after=" +
                                                   std::to_string(random_id(client, n) - 1)),
                              200);
              });
  std::vector<std::vector<std::int64_t>> created(clients);
  if (wanted("create"))
    run_phase("POST /api/patients", http_port, clients, seconds,
              [&](http_client& c, int client, std::size_t n) {
                auto r = c.request(
                    "POST", "/api/patients",
                    patient_body(
                        "BP-" + run + "-" + std::to_string(client) + "-" + std::to_string(n), n));
                if (r.status != 201) return expect(std::move(r), 201);
                rapidjson::Document d;
                d.Parse(r.body.data(), r.body.size());
                created[client].push_back(d["id"].GetInt64());
                return true;
              });
  if (wanted("get"))
    run_phase("GET /api/patients/:id", http_port, clients, seconds,
              [&](http_client& c, int client, std::size_t n) {
                return expect(
                    c.request("GET", "/api/patients/" + std::to_string(random_id(client, n))), 200);
              });
  // Each client updates its own slice of the seeded patients, so versions never clash.
  std::vector<std::map<std::int64_t, int>> versions(clients);
  if (wanted("update"))
    run_phase("PUT /api/patients/:id", http_port, clients, seconds,
              [&](http_client& c, int client, std::size_t n) {
                std::size_t slice = ids.size() / clients;
                auto id = ids[client * slice + n % std::max<std::size_t>(1, slice)];
                int& version = versions[client].try_emplace(id, 1).first->second;
                auto r = c.request("PUT", "/api/patients/" + std::to_string(id),
                                   R"({"area":"Area)" + std::to_string(n) + R"(","version":)" +
                                       std::to_string(version) + "}");
                if (r.status != 200) return expect(std::move(r), 200);
                ++version;
                return true;
              });
  if (wanted("delete"))
    run_phase("DELETE /api/patients/:id", http_port, clients, seconds,
              [&](http_client& c, int client, std::size_t n) {
                if (n >= created[client].size())
                  return expect(c.request("DELETE", "/api/patients/999999999999"), 404);
                return expect(
                    c.request("DELETE", "/api/patients/" + std::to_string(created[client][n])),
                    200);
              });
  std::printf(
      "\n(DELETE: once a client has deleted every patient it created, it deletes an absent one: "
      "404, counted "
      "as success)\n");
  gateway.stop();
  service.stop();
  return 0;
}
