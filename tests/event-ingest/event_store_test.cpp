// event_store on a real RocksDB directory: dedup within a group and against the store,
// sessions and stats in the same write, counters restored on reopen, query paging.
#include <doctest/doctest.h>

#include <unistd.h>
#include <filesystem>

#include "event_store.hpp"
#include "suite/json_msgpack.hpp"

using namespace event_ingest;

namespace {

struct temp_dir {
  std::string path =
      (std::filesystem::temp_directory_path() /
       ("event-store-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++)))
          .string();
  temp_dir() { std::filesystem::remove_all(path); }
  ~temp_dir() { std::filesystem::remove_all(path); }
  static inline int counter = 0;
};

prepared_event make(const std::string& session, const std::string& event_type,
                    std::optional<std::string> event_id, std::int64_t tokens_in = 0,
                    std::int64_t created_at_ms = 1000) {
  static auto prices = pricing_table::parse(pricing_table::embedded_json()).value();
  std::string json = R"({"session_id":")" + session + R"(","agent_type":"a","event_type":")" +
                     event_type + R"(","tokens_in":)" + std::to_string(tokens_in);
  if (event_id) json += R"(,"event_id":")" + *event_id + "\"";
  json += "}";
  auto body = suite::json_to_msgpack(json, nullptr).value();
  return std::get<prepared_event>(prepare_event(body.object, prices, created_at_ms));
}

std::unique_ptr<event_store> open_store(const std::string& path) {
  store_options options;
  options.path = path;
  auto store = event_store::open(options);
  REQUIRE(store.ok());
  return std::move(*store);
}

}  // namespace

TEST_CASE("a group dedups within itself and against what is stored, and counts exactly") {
  temp_dir dir;
  auto store = open_store(dir.path);
  std::vector<prepared_event> first{make("s1", "session_start", "a", 10),
                                    make("s1", "tool_use", std::nullopt, 5)};
  std::vector<prepared_event> second{make("s1", "tool_use", "a"), make("s2", "tool_use", "b", 1),
                                     make("s2", "tool_use", "b"),
                                     make("s1", "session_end", std::nullopt)};
  auto outcome = store->commit_group({&first, &second});
  REQUIRE(outcome.ok());
  CHECK(outcome->batches[0].ids.size() == 2);
  CHECK(outcome->batches[1].ids == std::vector<std::string>{"b", outcome->batches[1].ids[1]});
  CHECK(outcome->batches[1].stored == std::vector<std::size_t>{1, 3});
  CHECK(outcome->batches[1].duplicates == 2);
  CHECK(outcome->sessions.size() == 2);
  auto stats = store->read_stats().value();
  CHECK(stats.total_events == 4);
  CHECK(stats.total_sessions == 2);
  CHECK(stats.active_sessions == 1);  // s1 ended
  CHECK(stats.tokens_in == 16);
  CHECK(stats.duplicates == 2);

  std::vector<prepared_event> again{make("s2", "tool_use", "a")};
  auto repeat = store->commit_group({&again});
  REQUIRE(repeat.ok());
  CHECK(repeat->batches[0].ids.empty());
  CHECK(repeat->batches[0].duplicates == 1);
}

TEST_CASE("counters and sessions survive a reopen") {
  temp_dir dir;
  {
    auto store = open_store(dir.path);
    std::vector<prepared_event> batch{make("s", "tool_use", "x", 7),
                                      make("s", "tool_use", std::nullopt, 3)};
    REQUIRE(store->commit_group({&batch}).ok());
  }
  auto store = open_store(dir.path);
  CHECK(store->counters().total_events == 2);
  CHECK(store->counters().last_seq == 2);
  auto session = store->read_session("s").value();
  REQUIRE(session.has_value());
  CHECK(session->event_count == 2);
  CHECK(session->tokens_in == 10);
  std::vector<prepared_event> repeat{make("s", "tool_use", "x")};
  CHECK(store->commit_group({&repeat})->batches[0].duplicates == 1);
}

TEST_CASE("queries page newest first, by session or globally, with filters") {
  temp_dir dir;
  auto store = open_store(dir.path);
  std::vector<prepared_event> batch;
  for (int i = 0; i < 7; ++i) {
    batch.push_back(make(i % 2 ? "odd" : "even", i == 6 ? "error" : "tool_use",
                         "e" + std::to_string(i), 0, 1000 + i));
  }
  REQUIRE(store->commit_group({&batch}).ok());
  event_query q;
  q.limit = 3;
  auto page = store->query_events(q).value();
  CHECK(page.events.size() == 3);
  REQUIRE(page.next_cursor.has_value());
  q.before_seq = page.next_cursor;
  auto next = store->query_events(q).value();
  CHECK(next.events.size() == 3);
  q.before_seq = next.next_cursor;
  auto last = store->query_events(q).value();
  CHECK(last.events.size() == 1);
  CHECK_FALSE(last.next_cursor.has_value());

  event_query by_session;
  by_session.session_id = "odd";
  CHECK(store->query_events(by_session)->events.size() == 3);
  event_query by_type;
  by_type.event_type = "error";
  CHECK(store->query_events(by_type)->events.size() == 1);
  event_query by_time;
  by_time.since_ms = 1002;
  by_time.until_ms = 1004;
  CHECK(store->query_events(by_time)->events.size() == 3);
  auto sessions = store->list_sessions(std::nullopt, 1).value();
  CHECK(sessions.sessions.size() == 1);
  CHECK(sessions.next_cursor == "even");
  CHECK(store->list_sessions(std::string("even"), 10)->sessions.size() == 1);
}

TEST_CASE("a session whose only events in a group are duplicates is neither created nor changed") {
  temp_dir dir;
  auto store = open_store(dir.path);
  std::vector<prepared_event> first{make("s1", "tool_use", "a", 4)};
  REQUIRE(store->commit_group({&first}).ok());
  std::vector<prepared_event> repeats{make("s2", "tool_use", "a", 9),
                                      make("s1", "tool_use", "a", 9)};
  auto outcome = store->commit_group({&repeats});
  REQUIRE(outcome.ok());
  CHECK(outcome->batches[0].duplicates == 2);
  CHECK(outcome->sessions.empty());
  CHECK_FALSE(store->read_session("s2")->has_value());
  CHECK(store->read_session("s1")->value().tokens_in == 4);
  auto stats = store->read_stats().value();
  CHECK(stats.total_events == 1);
  CHECK(stats.total_sessions == 1);
  CHECK(stats.duplicates == 2);
}

TEST_CASE("sessions come back in the order the group first stored them, each once") {
  temp_dir dir;
  auto store = open_store(dir.path);
  std::vector<prepared_event> one{make("zeta", "tool_use", "1", 1),
                                  make("alpha", "tool_use", "2", 2)};
  std::vector<prepared_event> two{make("zeta", "tool_use", "3", 4), make("mid", "tool_use", "1", 8),
                                  make("mid", "tool_use", "4", 16)};
  auto outcome = store->commit_group({&one, &two});
  REQUIRE(outcome.ok());
  REQUIRE(outcome->sessions.size() == 3);
  CHECK(outcome->sessions[0].session_id == "zeta");
  CHECK(outcome->sessions[0].tokens_in == 5);
  CHECK(outcome->sessions[1].session_id == "alpha");
  CHECK(outcome->sessions[2].session_id == "mid");
  CHECK(outcome->sessions[2].event_count == 1);  // event_id "1" was a duplicate
  CHECK(outcome->batches[1].stored == std::vector<std::size_t>{0, 2});
}

TEST_CASE("a database of another layout is refused and left as it was") {
  temp_dir dir;
  {
    rocksdb::Options o;
    o.create_if_missing = true;
    rocksdb::DB* raw = nullptr;
    REQUIRE(rocksdb::DB::Open(o, dir.path, &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    REQUIRE(db->Put(rocksdb::WriteOptions(), "m:stats", "old").ok());
    REQUIRE(db->Close().ok());
  }
  store_options options;
  options.path = dir.path;
  auto store = event_store::open(options);
  REQUIRE_FALSE(store.ok());
  CHECK(store.error().code == "storage_layout");
  std::vector<std::string> families;
  REQUIRE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), dir.path, &families).ok());
  CHECK(families == std::vector<std::string>{rocksdb::kDefaultColumnFamilyName});
}
