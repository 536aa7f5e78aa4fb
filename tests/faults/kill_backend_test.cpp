// kill -9 of each stateful backend while clients write through the gateway: while it is
// down the gateway answers 503 at once (never a hang), it serves again as soon as the
// service is back, and EVERY write the gateway acknowledged (201) is read back by its
// id after the restart. Writes that got no 201 are not counted as acknowledged.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <ctime>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "suite_stack.hpp"

using namespace suite::test;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

namespace {

// A write by client `c` number `n`: returns the id to read back, or "" when not acknowledged.
using write_fn = std::function<std::string(http_client&, int c, int n)>;
// True when the acknowledged write `id` reads back.
using read_fn = std::function<bool(suite_stack&, const std::string& id)>;

std::string json_string_field(const std::string& body, const std::string& key) {
  auto at = body.find("\"" + key + "\":");
  if (at == std::string::npos) return "";
  at += key.size() + 3;
  if (body[at] == '"') return body.substr(at + 1, body.find('"', at + 1) - at - 1);
  auto end = body.find_first_of(",}", at);
  return body.substr(at, end - at);
}

struct crash_result {
  std::size_t acknowledged = 0, lost = 0, answered_while_down = 0, non_503_while_down = 0;
  double slowest_503_ms = 0;
};

crash_result crash_during_load(suite_stack& s, const std::string& service, const write_fn& write,
                               const read_fn& read_back) {
  constexpr int clients = 4;
  std::atomic<bool> stop{false};
  std::mutex mutex;
  std::vector<std::string> acknowledged;
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      auto client = s.api_client();
      for (int n = 0; !stop.load(); ++n) {
        auto id = write(*client, c, n);
        if (id.empty()) {
          client = s.api_client();  // a failed exchange may have closed the connection
          std::this_thread::sleep_for(5ms);
          continue;
        }
        std::lock_guard lock(mutex);
        acknowledged.push_back(id);
      }
    });
  }
  REQUIRE(wait_until([&] {
    std::lock_guard lock(mutex);
    return acknowledged.size() >= 50;
  }));
  s.kill_service(service);
  crash_result result;
  // Down: every answer is a 503, and at once (the slowest is reported, not asserted on).
  for (int i = 0; i < 20; ++i) {
    auto started = steady::now();
    auto r = s.api("GET", "/api/sys/" + service + "/health");
    auto ms = std::chrono::duration<double, std::milli>(steady::now() - started).count();
    ++result.answered_while_down;
    if (r.status != 503) ++result.non_503_while_down;
    result.slowest_503_ms = std::max(result.slowest_503_ms, ms);
  }
  s.start_service(service);  // waits until the gateway reaches it again
  REQUIRE(wait_until(
      [&] {
        std::lock_guard lock(mutex);
        return acknowledged.size() >= 100;
      },
      30s));
  stop = true;
  for (auto& t : threads) t.join();
  result.acknowledged = acknowledged.size();
  for (const auto& id : acknowledged) {
    if (!read_back(s, id)) {
      ++result.lost;
      MESSAGE("acknowledged write " << id << " is missing after the restart");
    }
  }
  MESSAGE(service << ": acknowledged " << result.acknowledged << ", lost " << result.lost
                  << ", slowest 503 while down " << result.slowest_503_ms << " ms");
  return result;
}

void check(const crash_result& r) {
  CHECK(r.acknowledged >= 100);
  CHECK(r.lost == 0);
  CHECK(r.non_503_while_down == 0);
}

}  // namespace

TEST_CASE("event-ingest killed during load: 503 while down, every acknowledged event kept") {
  suite_stack s({.services = {"event-ingest"}});
  auto write = [](http_client& client, int c, int n) -> std::string {
    std::string id = "k" + std::to_string(c) + "-" + std::to_string(n);
    auto r =
        client.post("/api/events",
                    R"({"session_id":"kill-)" + std::to_string(c) +
                        R"(","agent_type":"a","event_type":"tool_use","event_id":")" + id + "\"}");
    return r.status == 201 ? std::to_string(c) + "/" + id : "";
  };
  // Reads each client's session once and checks ids against it.
  std::map<std::string, std::set<std::string>> stored;
  auto read_back = [&](suite_stack& st, const std::string& key) {
    auto client = key.substr(0, key.find('/'));
    auto id = key.substr(key.find('/') + 1);
    if (!stored.count(client)) {
      auto& ids = stored[client];
      for (std::string cursor;;) {
        auto page = st.api("GET", "/api/events?limit=1000&session_id=kill-" + client +
                                      (cursor.empty() ? "" : "&cursor=" + cursor));
        REQUIRE(page.status == 200);
        for (std::size_t at = 0;
             (at = page.body.find("\"event_id\":\"", at)) != std::string::npos;) {
          at += 12;
          ids.insert(page.body.substr(at, page.body.find('"', at) - at));
        }
        cursor = json_string_field(page.body, "next_cursor");
        if (cursor.empty() || cursor == "null") break;
      }
    }
    return stored[client].count(id) == 1;
  };
  check(crash_during_load(s, "event-ingest", write, read_back));
}

TEST_CASE("rem-store killed during load: 503 while down, every acknowledged record kept") {
  suite_stack s({.services = {"rem-store"}});
  REQUIRE(
      s.api("POST", "/api/rem/schemas",
            R"({"name":"doc","key_field":"handle","schema":{"type":"object","required":["handle"],)"
            R"("properties":{"handle":{"type":"string"},"n":{"type":"integer"}}}})")
          .status == 201);
  auto write = [](http_client& client, int c, int n) -> std::string {
    auto r = client.post("/api/rem/types/doc/records",
                         R"({"record":{"handle":"h)" + std::to_string(c) + "-" + std::to_string(n) +
                             R"(","n":)" + std::to_string(n) + "}}");
    return r.status == 201 ? json_string_field(r.body, "id") : "";
  };
  auto read_back = [](suite_stack& st, const std::string& id) {
    return st.api("GET", "/api/rem/records/" + id).status == 200;
  };
  check(crash_during_load(s, "rem-store", write, read_back));
}

TEST_CASE("clinic-records killed during load: 503 while down, every acknowledged patient kept") {
  suite_stack s({.services = {"clinic-records"}});
  auto run = std::to_string(::getpid()) + "-" + std::to_string(std::time(nullptr) % 100000);
  auto write = [run](http_client& client, int c, int n) -> std::string {
    auto r = client.post("/api/patients", R"({"clinic_number":"KILL-)" + run + "-" +
                                              std::to_string(c) + "-" + std::to_string(n) +
                                              R"(","first_name":"Kill","last_name":"Nine"})");
    return r.status == 201 ? json_string_field(r.body, "id") : "";
  };
  auto read_back = [](suite_stack& st, const std::string& id) {
    return st.api("GET", "/api/patients/" + id).status == 200;
  };
  check(crash_during_load(s, "clinic-records", write, read_back));
}

TEST_CASE(
    "PostgreSQL restarted during load: clinic-records recovers by itself, nothing acked lost") {
  suite_stack s({.services = {"clinic-records"}});
  auto run = std::to_string(::getpid()) + "-" + std::to_string(std::time(nullptr) % 100000);
  pid_t service_pid = s.pid("clinic-records");
  std::atomic<bool> stop{false};
  std::mutex mutex;
  std::vector<std::string> acknowledged;
  std::map<int, int> statuses;  // every answer during the run, by status
  std::vector<std::thread> threads;
  for (int c = 0; c < 4; ++c) {
    threads.emplace_back([&, c] {
      auto client = s.api_client();
      for (int n = 0; !stop.load(); ++n) {
        auto r = client->post("/api/patients", R"({"clinic_number":"PGR-)" + run + "-" +
                                                   std::to_string(c) + "-" + std::to_string(n) +
                                                   R"(","first_name":"Pg","last_name":"Restart"})");
        std::lock_guard lock(mutex);
        ++statuses[r.status];
        if (r.status == 201) {
          acknowledged.push_back(json_string_field(r.body, "id"));
        } else {
          client = s.api_client();
        }
      }
    });
  }
  REQUIRE(wait_until([&] {
    std::lock_guard lock(mutex);
    return acknowledged.size() >= 50;
  }));
  std::size_t before_restart;
  {
    std::lock_guard lock(mutex);
    before_restart = acknowledged.size();
  }
  suite_stack::restart_pg();
  // Writes are acknowledged again, by the same process.
  CHECK(wait_until(
      [&] {
        std::lock_guard lock(mutex);
        return acknowledged.size() >= before_restart + 50;
      },
      30s));
  stop = true;
  for (auto& t : threads) t.join();
  CHECK(s.pid("clinic-records") == service_pid);
  std::size_t lost = 0;
  for (const auto& id : acknowledged) {
    if (s.api("GET", "/api/patients/" + id).status != 200) ++lost;
  }
  std::string seen;
  for (auto [status, count] : statuses)
    seen += std::to_string(status) + ":" + std::to_string(count) + " ";
  MESSAGE("PostgreSQL restart under load: acknowledged " << acknowledged.size() << ", lost " << lost
                                                         << ", answers " << seen);
  CHECK(lost == 0);
  CHECK(statuses.count(0) == 0);  // no request hung up or was dropped by the gateway
}

TEST_CASE("chat-cache killed (no durable state): 503 at once while down, served again after") {
  suite_stack s({.services = {"chat-cache"}});
  std::string chat =
      R"({"model":"m","messages":[{"role":"user","content":"kill test"}],"stream":false})";
  REQUIRE(s.api("POST", "/api/chat", chat).status == 200);
  s.kill_service("chat-cache");
  for (int i = 0; i < 10; ++i) CHECK(s.api("POST", "/api/chat", chat).status == 503);
  s.start_service("chat-cache");
  CHECK(s.api("POST", "/api/chat", chat).status == 200);
}
