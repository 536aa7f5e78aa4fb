// Crash safety: event-ingest is killed with SIGKILL while clients have batches in
// flight, then restarted on the same RocksDB directory. Every acknowledged event must be
// there, and once each client has re-sent its unanswered batch (idempotent: every event
// has an event_id), total_events must equal the number of distinct events acknowledged,
// exactly, as must the token totals written in the same WriteBatch.
#include <doctest/doctest.h>

#include <rapidjson/document.h>

#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include "ingest_fixture.hpp"

using namespace suite::test;
using namespace std::chrono_literals;

namespace {

std::int64_t stat(ingest_fixture& f, const char* key) {
  auto r = f.get("/api/stats");
  REQUIRE(r.status == 200);
  rapidjson::Document doc;
  doc.Parse(r.body.data(), r.body.size());
  return doc[key].GetInt64();
}

std::string batch_of(int client, int number, int size) {
  std::string body = "{\"events\":[";
  for (int i = 0; i < size; ++i) {
    std::string id =
        "c" + std::to_string(client) + "-b" + std::to_string(number) + "-" + std::to_string(i);
    body +=
        std::string(i ? "," : "") + R"({"session_id":"crash-)" + std::to_string(client) +
        R"(","agent_type":"agent","event_type":"tool_use","tokens_in":1,"tokens_out":2,"event_id":")" +
        id + "\"}";
  }
  return body + "]}";
}

}  // namespace

TEST_CASE("SIGKILL with batches in flight loses no acknowledged event, and stats stay exact") {
  ingest_fixture f;
  constexpr int clients = 4, batch_size = 20;
  std::atomic<bool> crashed{false};
  std::mutex mutex;
  std::set<std::string> acknowledged_batches;  // "client/number"
  std::vector<int> unanswered(clients, -1);    // the batch each client had in flight at the crash
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      http_client client("127.0.0.1", f.http_port());
      for (int n = 0; !crashed.load(); ++n) {
        auto r = client.post("/api/events/batch", batch_of(c, n, batch_size));
        if (r.status == 201) {
          std::lock_guard lock(mutex);
          acknowledged_batches.insert(std::to_string(c) + "/" + std::to_string(n));
        } else {
          unanswered[c] = n;
          return;
        }
      }
    });
  }
  REQUIRE(wait_until([&] {
    std::lock_guard lock(mutex);
    return acknowledged_batches.size() >= 40;
  }));
  f.kill_service();
  crashed = true;
  for (auto& t : threads) t.join();
  std::size_t acknowledged = acknowledged_batches.size();
  INFO("acknowledged batches before the crash: " << acknowledged);

  f.start_service();
  // Every acknowledged event is stored: re-sending it is refused as a duplicate.
  std::int64_t total_after_restart = stat(f, "total_events");
  CHECK(total_after_restart >= static_cast<std::int64_t>(acknowledged * batch_size));
  for (const auto& key : acknowledged_batches) {
    auto slash = key.find('/');
    auto r = f.post("/api/events/batch", batch_of(std::stoi(key.substr(0, slash)),
                                                  std::stoi(key.substr(slash + 1)), batch_size));
    REQUIRE(r.status == 201);
    rapidjson::Document doc;
    doc.Parse(r.body.data(), r.body.size());
    CHECK(doc["received"].GetInt() == 0);
    CHECK(doc["duplicates"].GetInt() == batch_size);
  }
  CHECK(stat(f, "total_events") == total_after_restart);
  // ...and readable: every acknowledged id of every client is in its session's events.
  for (int c = 0; c < clients; ++c) {
    std::set<std::string> stored;
    std::string target = "/api/events?limit=1000&session_id=crash-" + std::to_string(c);
    for (std::string cursor;;) {
      auto page = f.get(target + (cursor.empty() ? "" : "&cursor=" + cursor));
      REQUIRE(page.status == 200);
      rapidjson::Document doc;
      doc.Parse(page.body.data(), page.body.size());
      for (const auto& e : doc["events"].GetArray()) stored.insert(e["event_id"].GetString());
      if (doc["next_cursor"].IsNull()) break;
      cursor = doc["next_cursor"].GetString();
    }
    for (const auto& key : acknowledged_batches) {
      if (key.substr(0, key.find('/')) != std::to_string(c)) continue;
      auto number = key.substr(key.find('/') + 1);
      for (int i = 0; i < batch_size; ++i) {
        auto id = "c" + std::to_string(c) + "-b" + number + "-" + std::to_string(i);
        CHECK_MESSAGE(stored.count(id) == 1, "acknowledged event " << id << " is missing");
      }
    }
  }
  // Clients retry what was never answered; afterwards the counts are exact.
  std::size_t retried = 0;
  for (int c = 0; c < clients; ++c) {
    if (unanswered[c] < 0) continue;
    REQUIRE(f.post("/api/events/batch", batch_of(c, unanswered[c], batch_size)).status == 201);
    ++retried;
  }
  auto expected = static_cast<std::int64_t>((acknowledged + retried) * batch_size);
  CHECK(stat(f, "total_events") == expected);
  CHECK(stat(f, "total_tokens_in") == expected);
  CHECK(stat(f, "total_tokens_out") == 2 * expected);
  CHECK(stat(f, "total_sessions") == clients);
}
