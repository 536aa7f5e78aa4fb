// Black-box tests of event-ingest through the real gateway over real HTTP: the 18 cases
// of the original's parity suite (anchors.md), then the extensions (batch limit,
// metadata cap, pricing, event queries, sessions). One gateway + service pair for the
// file; each case uses its own session ids, and stats are checked as differences.
#include <doctest/doctest.h>

#include <rapidjson/document.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "ingest_fixture.hpp"

using namespace suite::test;

namespace {

ingest_fixture& api() {
  static ingest_fixture fixture({"--max-batch=5"});
  return fixture;
}

rapidjson::Document json(const std::string& text) {
  rapidjson::Document doc;
  doc.Parse(text.data(), text.size());
  REQUIRE_MESSAGE(!doc.HasParseError(), "not JSON: " << text);
  return doc;
}

std::string event(const std::string& session, const std::string& extra = "",
                  const std::string& type = "tool_use") {
  return R"({"session_id":")" + session + R"(","agent_type":"claude-code","event_type":")" + type +
         "\"" + extra + "}";
}

bool has_detail_for(const rapidjson::Value& details, const std::string& field) {
  for (const auto& d : details.GetArray()) {
    if (d["field"].GetString() == field) return true;
  }
  return false;
}

std::string decimal_text(const rapidjson::Value& v) {
  // The gateway writes exact decimals; RapidJSON reads them as doubles, so compare text.
  char out[64];
  std::snprintf(out, sizeof out, "%.9g", v.GetDouble());
  return out;
}

}  // namespace

TEST_CASE("parity 1: health answers ok with uptime and sse_clients") {
  auto r = api().get("/api/health");
  CHECK(r.status == 200);
  auto body = json(r.body);
  CHECK(std::string(body["status"].GetString()) == "ok");
  CHECK(body["uptime"].IsNumber());
  CHECK(body["sse_clients"].IsInt());
}

TEST_CASE("parity 2: a single event is stored: 201 {received, ids, duplicates}") {
  auto r = api().post("/api/events", event("p2"));
  CHECK(r.status == 201);
  auto body = json(r.body);
  CHECK(body["received"].GetInt() == 1);
  REQUIRE(body["ids"].IsArray());
  CHECK(body["ids"].Size() == 1);
  CHECK(body["duplicates"].GetInt() == 0);
}

TEST_CASE("parity 3-5: each missing required field is a 400 naming it") {
  const std::pair<std::string, std::string> cases[] = {
      {"session_id", R"({"agent_type":"a","event_type":"tool_use"})"},
      {"agent_type", R"({"session_id":"p3","event_type":"tool_use"})"},
      {"event_type", R"({"session_id":"p3","agent_type":"a"})"},
  };
  for (const auto& [field, body] : cases) {
    CAPTURE(field);
    auto r = api().post("/api/events", body);
    CHECK(r.status == 400);
    auto doc = json(r.body);
    CHECK(doc["error"].IsString());
    CHECK(has_detail_for(doc["details"], field));
    CHECK(doc["details"].Size() == 1);
  }
}

TEST_CASE("parity 6: a body that is not an object is a 400") {
  CHECK(api().post("/api/events", "[1,2]").status == 400);
  CHECK(api().post("/api/events", "\"text\"").status == 400);
  CHECK(api().post("/api/events", "{not json").status == 400);
}

TEST_CASE("parity 7: a repeated event_id answers 200 with received 0, duplicates 1") {
  auto first = api().post("/api/events", event("p7", R"(,"event_id":"p7-once")"));
  CHECK(first.status == 201);
  auto again = api().post("/api/events", event("p7", R"(,"event_id":"p7-once")"));
  CHECK(again.status == 200);
  auto body = json(again.body);
  CHECK(body["received"].GetInt() == 0);
  CHECK(body["duplicates"].GetInt() == 1);
  CHECK(body["ids"].Size() == 0);
}

TEST_CASE("parity 8: a null event_id never deduplicates") {
  for (int i = 0; i < 2; ++i) {
    auto r = api().post("/api/events", event("p8", R"(,"event_id":null)"));
    CHECK(r.status == 201);
    CHECK(json(r.body)["received"].GetInt() == 1);
  }
}

TEST_CASE("parity 9: a batch is stored: 201 {received, ids, duplicates, rejected: []}") {
  auto r = api().post("/api/events/batch",
                      "{\"events\":[" + event("p9") + "," + event("p9") + "," + event("p9") + "]}");
  CHECK(r.status == 201);
  auto body = json(r.body);
  CHECK(body["received"].GetInt() == 3);
  CHECK(body["ids"].Size() == 3);
  CHECK(body["duplicates"].GetInt() == 0);
  CHECK(body["rejected"].Size() == 0);
}

TEST_CASE("parity 10: a batch without its events key is a 400") {
  auto r = api().post("/api/events/batch", R"({"items":[]})");
  CHECK(r.status == 400);
  CHECK(has_detail_for(json(r.body)["details"], "events"));
  CHECK(api().post("/api/events/batch", R"({"events":"x"})").status == 400);
}

TEST_CASE("parity 11: a batch rejects bad events by index and keeps the good ones") {
  auto r = api().post("/api/events/batch",
                      "{\"events\":[" + event("p11") + R"(,{"session_id":"p11"},7,)" +
                          event("p11", R"(,"status":"maybe","tokens_in":-1)") + "]}");
  CHECK(r.status == 201);
  auto body = json(r.body);
  CHECK(body["received"].GetInt() == 1);
  REQUIRE(body["rejected"].Size() == 3);
  CHECK(body["rejected"][0]["index"].GetInt() == 1);
  CHECK(has_detail_for(body["rejected"][0]["errors"], "agent_type"));
  CHECK(has_detail_for(body["rejected"][0]["errors"], "event_type"));
  CHECK(body["rejected"][1]["index"].GetInt() == 2);
  CHECK(body["rejected"][2]["index"].GetInt() == 3);
  CHECK(has_detail_for(body["rejected"][2]["errors"], "status"));
  CHECK(has_detail_for(body["rejected"][2]["errors"], "tokens_in"));
}

TEST_CASE("parity 12: a batch counts duplicates, within itself and against the store") {
  CHECK(api().post("/api/events", event("p12", R"(,"event_id":"p12-a")")).status == 201);
  auto r =
      api().post("/api/events/batch", "{\"events\":[" + event("p12", R"(,"event_id":"p12-a")") +
                                          "," + event("p12", R"(,"event_id":"p12-b")") + "," +
                                          event("p12", R"(,"event_id":"p12-b")") + "]}");
  CHECK(r.status == 201);
  auto body = json(r.body);
  CHECK(body["received"].GetInt() == 1);
  CHECK(body["duplicates"].GetInt() == 2);
  CHECK(std::string(body["ids"][0].GetString()) == "p12-b");
}

TEST_CASE("parity 13: stats have the original's shape") {
  auto r = api().get("/api/stats");
  CHECK(r.status == 200);
  auto body = json(r.body);
  for (const char* key : {"total_events", "active_sessions", "total_sessions", "total_tokens_in",
                          "total_tokens_out", "total_cost_usd"}) {
    CAPTURE(key);
    CHECK(body.HasMember(key));
    CHECK(body[key].IsNumber());
  }
}

TEST_CASE("parity 14: stats count what was ingested, exactly") {
  auto before = json(api().get("/api/stats").body);
  auto r = api().post(
      "/api/events/batch",
      "{\"events\":[" +
          event("p14-a", R"(,"tokens_in":100,"tokens_out":20,"cost_usd":0.1)", "session_start") +
          "," + event("p14-a", R"(,"tokens_in":5,"tokens_out":7,"cost_usd":0.2)") + "," +
          event("p14-b", R"(,"event_id":"p14-x")") + "," +
          event("p14-b", R"(,"event_id":"p14-x")") + "]}");
  REQUIRE(r.status == 201);
  auto after = json(api().get("/api/stats").body);
  CHECK(after["total_events"].GetInt64() - before["total_events"].GetInt64() == 3);
  CHECK(after["total_sessions"].GetInt64() - before["total_sessions"].GetInt64() == 2);
  CHECK(after["active_sessions"].GetInt64() - before["active_sessions"].GetInt64() == 2);
  CHECK(after["total_tokens_in"].GetInt64() - before["total_tokens_in"].GetInt64() == 105);
  CHECK(after["total_tokens_out"].GetInt64() - before["total_tokens_out"].GetInt64() == 27);
  CHECK(after["total_cost_usd"].GetDouble() - before["total_cost_usd"].GetDouble() ==
        doctest::Approx(0.3));
  CHECK(after["duplicates"].GetInt64() - before["duplicates"].GetInt64() == 1);
  CHECK(api().post("/api/events", event("p14-a", "", "session_end")).status == 201);
  auto ended = json(api().get("/api/stats").body);
  CHECK(ended["active_sessions"].GetInt64() == after["active_sessions"].GetInt64() - 1);
}

TEST_CASE(
    "parity 15-18: the stream: content type, connected first, broadcasts, counted in health") {
  sse_reader stream(api().http_port(), "/api/stream");
  REQUIRE(stream.wait_for_message("data: "));
  CHECK(stream.received().find("Content-Type: text/event-stream") != std::string::npos);  // 15
  auto first_data = stream.received().find("data: ");
  CHECK(stream.received().substr(first_data).starts_with(R"(data: {"type":"connected"})"));  // 16
  auto health = json(api().get("/api/health").body);
  CHECK(health["sse_clients"].GetInt() >= 1);  // 18
  CHECK(api().post("/api/events", event("p17-stream", R"(,"event_id":"p17-streamed")")).status ==
        201);
  CHECK(stream.wait_for(R"("type":"event","data":{"id":"p17-streamed")"));  // 17
  CHECK(stream.wait_for(R"("type":"session_update","data":{"session_id":"p17-stream")"));
  CHECK(stream.wait_for(R"("type":"stats")"));
  CHECK(stream.wait_for(": heartbeat"));
}

TEST_CASE("the gateway subscribes to the live stream only while a client streams it") {
  ingest_fixture own;  // no other case's stream is open here
  auto listening = [&] {
    auto scrape = http_once(own.gateway_metrics_port(), "GET", "/metrics");
    REQUIRE(scrape.status == 200);
    auto at = scrape.body.find("suite_gateway_live_stream_listening{backend=\"event-ingest\"");
    REQUIRE(at != std::string::npos);
    return scrape.body.substr(scrape.body.find(' ', at) + 1, 1);
  };
  auto wait_until_not_listening = [&] {
    for (int i = 0; i < 200 && listening() != "0"; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return listening();
  };
  CHECK(listening() == "0");
  CHECK(own.post("/api/events", event("listen")).status == 201);  // published to nobody
  // Twice: the first stream subscribes; after it closes, the next subscribes again. Each
  // gets the event posted right after its "connected", and never the gateway's marks.
  for (int round = 0; round < 2; ++round) {
    CAPTURE(round);
    std::string id = "listen-" + std::to_string(round);
    {
      sse_reader stream(own.http_port(), "/api/stream");
      REQUIRE(stream.wait_for(R"("type":"connected")"));
      CHECK(listening() == "1");
      CHECK(own.post("/api/events", event("listen", R"(,"event_id":")" + id + "\"")).status == 201);
      CHECK(stream.wait_for(R"("id":")" + id + "\""));
      CHECK(stream.received().find(R"("type":"mark")") == std::string::npos);
    }
    CHECK(wait_until_not_listening() == "0");
  }
}

TEST_CASE("a batch over the size limit is a 413 and stores nothing") {
  auto before = json(api().get("/api/stats").body)["total_events"].GetInt64();
  std::string events;
  for (int i = 0; i < 6; ++i) events += (i ? "," : "") + event("limit");
  auto r = api().post("/api/events/batch", "{\"events\":[" + events + "]}");
  CHECK(r.status == 413);
  CHECK(json(api().get("/api/stats").body)["total_events"].GetInt64() == before);
}

TEST_CASE("metadata over 10 KB is cut on a UTF-8 boundary and flagged") {
  std::string long_text;
  while (long_text.size() < 12000) long_text += "é";  // two bytes each
  auto r = api().post(
      "/api/events",
      event("meta", R"(,"event_id":"meta-big","metadata":{"note":")" + long_text + "\"}"));
  REQUIRE(r.status == 201);
  auto small = api().post("/api/events",
                          event("meta", R"(,"event_id":"meta-small","metadata":{"k":[1,2]})"));
  REQUIRE(small.status == 201);
  auto page = json(api().get("/api/events?session_id=meta").body);
  REQUIRE(page["events"].Size() == 2);
  const auto& kept = page["events"][0];
  const auto& cut = page["events"][1];
  CHECK(std::string(cut["id"].GetString()) == "meta-big");
  CHECK(cut["payload_truncated"].GetBool());
  REQUIRE(cut["metadata"].IsString());
  std::string text = cut["metadata"].GetString();
  CHECK(text.size() <= 10240);
  CHECK(text.size() > 10200);
  CHECK(text.starts_with(R"({"note":")"));
  CHECK_FALSE(kept["payload_truncated"].GetBool());
  CHECK(kept["metadata"]["k"].Size() == 2);
}

TEST_CASE("cost comes from the pricing table unless cost_usd is sent") {
  auto priced = api().post(
      "/api/events",
      event(
          "cost",
          R"(,"event_id":"cost-priced","model":"gpt-4o-2024-08-06","tokens_in":1000,"tokens_out":100)"));
  REQUIRE(priced.status == 201);
  auto explicit_cost = api().post(
      "/api/events",
      event("cost", R"(,"event_id":"cost-sent","model":"gpt-4o","tokens_in":1000,"cost_usd":0.5)"));
  REQUIRE(explicit_cost.status == 201);
  auto unknown = api().post(
      "/api/events",
      event("cost", R"(,"event_id":"cost-unknown","model":"no-such-model","tokens_in":10)"));
  REQUIRE(unknown.status == 201);
  auto page = json(api().get("/api/events?session_id=cost").body);
  REQUIRE(page["events"].Size() == 3);
  CHECK(page["events"][0]["cost_usd"].IsNull());
  CHECK(decimal_text(page["events"][1]["cost_usd"]) == "0.5");
  CHECK(decimal_text(page["events"][2]["cost_usd"]) ==
        "0.0035");  // 1000 * 2.50 + 100 * 10.00 per Mtok
  auto session = json(api().get("/api/sessions/cost").body);
  CHECK(decimal_text(session["total_cost_usd"]) == "0.5035");
  CHECK(session["total_tokens_in"].GetInt() == 2010);
}

TEST_CASE("events can be filtered and paged with a cursor") {
  std::string events;
  for (int i = 0; i < 5; ++i) {
    events += std::string(i ? "," : "") + R"({"session_id":"page","agent_type":")" +
              (i % 2 ? "odd" : "even") + R"(","event_type":")" + (i == 4 ? "error" : "tool_use") +
              R"(","event_id":"page-)" + std::to_string(i) + "\"}";
  }
  REQUIRE(api().post("/api/events/batch", "{\"events\":[" + events + "]}").status == 201);
  std::vector<std::string> seen;
  std::string target = "/api/events?session_id=page&limit=2";
  for (int pages = 0; pages < 5; ++pages) {
    auto page = json(api().get(target).body);
    for (const auto& e : page["events"].GetArray()) seen.emplace_back(e["event_id"].GetString());
    if (page["next_cursor"].IsNull()) break;
    target = std::string("/api/events?session_id=page&limit=2&cursor=") +
             page["next_cursor"].GetString();
  }
  CHECK(seen == std::vector<std::string>{"page-4", "page-3", "page-2", "page-1", "page-0"});
  auto odd = json(api().get("/api/events?session_id=page&agent_type=odd").body);
  CHECK(odd["events"].Size() == 2);
  auto errors = json(api().get("/api/events?event_type=error&limit=1000").body);
  bool found = false;
  for (const auto& e : errors["events"].GetArray())
    found |= std::string(e["event_id"].GetString()) == "page-4";
  CHECK(found);
  auto future = json(api().get("/api/events?session_id=page&since=99999999999999").body);
  CHECK(future["events"].Size() == 0);
  CHECK(api().get("/api/events?limit=0").status == 400);
  CHECK(api().get("/api/events?cursor=abc").status == 400);
}

TEST_CASE("sessions are listed and read with their totals and events") {
  REQUIRE(api()
              .post("/api/events/batch",
                    "{\"events\":[" + event("sess-1", R"(,"tokens_in":3)", "session_start") + "," +
                        event("sess-1", R"(,"tokens_out":4,"project":"suite")") + "]}")
              .status == 201);
  auto one = api().get("/api/sessions/sess-1");
  REQUIRE(one.status == 200);
  auto s = json(one.body);
  CHECK(s["event_count"].GetInt() == 2);
  CHECK(s["total_tokens_in"].GetInt() == 3);
  CHECK(s["total_tokens_out"].GetInt() == 4);
  CHECK(std::string(s["project"].GetString()) == "suite");
  CHECK(std::string(s["status"].GetString()) == "active");
  REQUIRE(s["events"].Size() == 2);
  CHECK(std::string(s["events"][0]["event_type"].GetString()) == "session_start");
  CHECK(api().get("/api/sessions/no-such-session").status == 404);
  auto list = json(api().get("/api/sessions?limit=1000").body);
  bool listed = false;
  for (const auto& x : list["sessions"].GetArray())
    listed |= std::string(x["session_id"].GetString()) == "sess-1";
  CHECK(listed);
  auto first = json(api().get("/api/sessions?limit=1").body);
  REQUIRE(first["next_cursor"].IsString());
  auto second =
      json(api()
               .get(std::string("/api/sessions?limit=1&cursor=") + first["next_cursor"].GetString())
               .body);
  REQUIRE(second["sessions"].Size() == 1);
  CHECK(std::string(second["sessions"][0]["session_id"].GetString()) >
        std::string(first["sessions"][0]["session_id"].GetString()));
}

TEST_CASE("a stream over the gateway's client limit is refused with 503") {
  ingest_fixture limited({}, {"--sse-max-clients=1"});
  sse_reader first(limited.http_port(), "/api/stream");
  REQUIRE(first.wait_for("connected"));
  sse_reader second(limited.http_port(), "/api/stream");
  CHECK(second.wait_for("HTTP/1.1 503"));
  CHECK(json(limited.get("/api/health").body)["sse_clients"].GetInt() == 1);
}

TEST_CASE("the service exports its ingest counters and RocksDB memory") {
  REQUIRE(api().post("/api/events", event("metrics")).status == 201);
  auto scrape = http_once(api().service_metrics_port(), "GET", "/metrics");
  REQUIRE(scrape.status == 200);
  for (const char* series :
       {"suite_event_ingest_events_total{result=\"stored\"}",
        "suite_event_ingest_events_total{result=\"duplicate\"}",
        "suite_event_ingest_events_total{result=\"rejected\"}",
        "suite_event_ingest_commit_group_batches_count",
        "suite_event_ingest_rocksdb_bytes{part=\"memtables\"}",
        "suite_requests_total{op=\"events.batch\",service=\"event-ingest\",status=\"201\"}"}) {
    CAPTURE(series);
    CHECK(scrape.body.find(series) != std::string::npos);
  }
}

namespace {

// The event ids of the "event" messages of an SSE text, in order, each with the SSE id
// line that preceded it (0 when there was none).
std::vector<std::pair<std::uint64_t, std::string>> streamed_events(const std::string& text) {
  std::vector<std::pair<std::uint64_t, std::string>> out;
  std::uint64_t sse_id = 0;
  std::size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string::npos) break;
    std::string line = text.substr(start, end - start);
    start = end + 1;
    if (line.starts_with("id: ")) sse_id = std::stoull(line.substr(4));
    if (line.starts_with(R"(data: {"type":"event","data":{"id":")")) {
      auto from = std::string(R"(data: {"type":"event","data":{"id":")").size();
      out.emplace_back(sse_id, line.substr(from, line.find('"', from) - from));
    }
    if (line.empty()) sse_id = 0;
  }
  return out;
}

}  // namespace

TEST_CASE("Last-Event-ID resumes the stream: exactly the events after it, in order, then live") {
  // A live stream learns the SSE ids of six events.
  sse_reader live(api().http_port(), "/api/stream");
  REQUIRE(live.wait_for(R"("type":"connected")"));
  for (int i = 1; i <= 6; ++i) {
    REQUIRE(api()
                .post("/api/events",
                      event("resume", R"(,"event_id":"resume-)" + std::to_string(i) + "\""))
                .status == 201);
  }
  REQUIRE(live.wait_for_message(R"("id":"resume-6")"));
  auto seen = streamed_events(live.received());
  // The live stream may also carry a late event of an earlier test case: keep ours.
  std::erase_if(seen, [](const auto& e) { return !e.second.starts_with("resume-"); });
  REQUIRE(seen.size() == 6);
  for (std::size_t i = 0; i < 6; ++i) {
    CHECK(seen[i].second == "resume-" + std::to_string(i + 1));
    CHECK(seen[i].first > 0);
    if (i > 0) CHECK(seen[i].first > seen[i - 1].first);
  }
  auto third = seen[2].first;

  // Resume after the third while more events are being posted: the switch from the
  // replay to the live messages happens with events arriving on both sides of it.
  std::atomic<bool> posting{true};
  std::vector<int> statuses;  // so a missing event is told apart from a refused post
  std::thread poster([&] {
    for (int i = 7; i <= 40; ++i) {
      statuses.push_back(api()
                             .post("/api/events", event("resume", R"(,"event_id":"resume-)" +
                                                                      std::to_string(i) + "\""))
                             .status);
      if (i == 20) posting = false;
    }
  });
  while (posting) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  sse_reader resumed(api().http_port(), "/api/stream",
                     "Last-Event-ID: " + std::to_string(third) + "\r\n");
  poster.join();
  for (std::size_t i = 0; i < statuses.size(); ++i) {
    CAPTURE(i);
    CHECK(statuses[i] == 201);
  }
  REQUIRE(resumed.wait_for_message(R"("id":"resume-40")"));
  auto got = streamed_events(resumed.received());
  REQUIRE(got.size() == 37);  // resume-4 .. resume-40, nothing twice, nothing missing
  for (std::size_t i = 0; i < got.size(); ++i) {
    CHECK(got[i].second == "resume-" + std::to_string(i + 4));
    CHECK(got[i].first > third);
    if (i > 0) CHECK(got[i].first == got[i - 1].first + 1);
  }
  CHECK(resumed.received().find(R"(data: {"type":"connected"})") <
        resumed.received().find(R"("id":"resume-4")"));

  // The replay op itself, over HTTP: pages of {seq, event}; one page is a plain JSON
  // reply (more pages would be NDJSON lines, one part each).
  auto replay = api().get("/api/events/replay?after=" + std::to_string(seen[4].first) + "&limit=3");
  REQUIRE(replay.status == 200);
  CHECK(replay.headers["content-type"] == "application/json");
  auto page = json(replay.body.substr(0, replay.body.find('\n')));
  REQUIRE(page["events"].Size() == 3);
  CHECK(std::string(page["events"][0]["event"]["id"].GetString()) == "resume-6");
  CHECK(page["events"][0]["seq"].GetUint64() == seen[5].first);
  CHECK(page["truncated"].GetBool());
  CHECK(page["last_seq"].GetUint64() >= got.back().first);
}

TEST_CASE("a Last-Event-ID that is not an event id is a 400; a bad replay query too") {
  sse_reader bad(api().http_port(), "/api/stream", "Last-Event-ID: yesterday\r\n");
  CHECK(bad.wait_for("400 Bad Request"));
  CHECK(bad.wait_for("bad_last_event_id"));
  CHECK(api().get("/api/events/replay").status == 400);
  CHECK(api().get("/api/events/replay?after=-1").status == 400);
  CHECK(api().get("/api/events/replay?after=1&limit=0").status == 400);
}
