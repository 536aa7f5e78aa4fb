// chat-cache end to end: the real gateway, the real chat-cache and the fake LLM as
// separate processes over real sockets, driven by a real HTTP client. Hit and miss for
// both APIs and both stream modes, single-flight, no-cache, upstream errors and an
// upstream that is down, the byte bound, and invalidation.
#include <doctest/doctest.h>

#include <optional>
#include <thread>

#include <utility>  // Boost 1.74 Asio uses std::exchange without including it

#include <rapidjson/document.h>
#include <boost/asio.hpp>

#include "http_client.hpp"
#include "test_credentials.hpp"
#include "test_process.hpp"

using namespace suite::test;
using namespace std::chrono_literals;

namespace {

rapidjson::Document parse_json(const std::string& text) {
  rapidjson::Document doc;
  doc.Parse(text.c_str(), text.size());
  REQUIRE_MESSAGE(!doc.HasParseError(), text);
  return doc;
}

// The content of a reply in any of the four shapes (Ollama/OpenAI × JSON/stream).
std::string content_of(const std::string& body) {
  std::string content;
  std::size_t start = 0;
  while (start < body.size()) {
    auto end = body.find('\n', start);
    if (end == std::string::npos) end = body.size();
    std::string line = body.substr(start, end - start);
    start = end + 1;
    if (line.starts_with("data: ")) line = line.substr(6);
    if (line.empty() || line == "[DONE]") continue;
    auto doc = parse_json(line);
    if (doc.HasMember("message")) content += doc["message"]["content"].GetString();
    if (doc.HasMember("response")) content += doc["response"].GetString();
    if (doc.HasMember("choices")) {
      const auto& choice = doc["choices"][0];
      if (choice.HasMember("message")) content += choice["message"]["content"].GetString();
      if (choice.HasMember("delta") && choice["delta"].HasMember("content"))
        content += choice["delta"]["content"].GetString();
    }
  }
  return content;
}

std::size_t count_lines(const std::string& body, const std::string& prefix) {
  std::size_t n = 0, start = 0;
  while (start < body.size()) {
    auto end = body.find('\n', start);
    if (end == std::string::npos) end = body.size();
    if (end > start && body.compare(start, prefix.size(), prefix) == 0) ++n;
    start = end + 1;
  }
  return n;
}

struct suite_under_test {
  int fake_port = free_port(), bus_port = free_port(), http_port = free_port(),
      metrics_port = free_port();
  test_process fake;
  test_process cache;
  test_process gateway;

  explicit suite_under_test(std::vector<std::string> cache_args = {},
                            std::vector<std::string> fake_args = {})
      : fake(bin_dir() + "/fake-llm",
             with({"--listen=127.0.0.1:" + std::to_string(fake_port)}, fake_args)),
        cache(bin_dir() + "/chat-cache",
              with({"--bus=tcp://127.0.0.1:" + std::to_string(bus_port),
                    "--metrics=127.0.0.1:" + std::to_string(metrics_port),
                    "--llm=http://127.0.0.1:" + std::to_string(fake_port), "--workers=2",
                    "--cache-shards=2", "--llm-connect-retries=1", "--llm-breaker-failures=3",
                    "--llm-breaker-cooldown-ms=60000"},
                   cache_args)),
        gateway(
            bin_dir() + "/gateway",
            with_gateway_auth({"--http=127.0.0.1:" + std::to_string(http_port),
                               "--metrics=127.0.0.1:" + std::to_string(free_port()),
                               "--backend-chat-cache=tcp://127.0.0.1:" + std::to_string(bus_port),
                               "--threads=2", "--timeout-ms=10000"})) {
    fake.start();
    cache.start();
    gateway.start();
    REQUIRE_MESSAGE(
        wait_until([&] { return http_once(fake_port, "GET", "/fake/stats").status == 200; }),
        fake.log());
    REQUIRE_MESSAGE(wait_until([&] {
                      return http_once(http_port, "GET", "/api/sys/chat-cache/health").status ==
                             200;
                    }),
                    std::string(cache.log() + gateway.log()));
  }

  static std::vector<std::string> with(std::vector<std::string> base,
                                       const std::vector<std::string>& extra) {
    base.insert(base.end(), extra.begin(), extra.end());
    return base;
  }

  std::uint64_t llm_served() {
    auto r = http_once(fake_port, "GET", "/fake/stats");
    return parse_json(r.body)["requests"].GetUint64();
  }
  rapidjson::Document stats() {
    auto r = http_once(http_port, "GET", "/api/cache/stats");
    REQUIRE(r.status == 200);
    return parse_json(r.body);
  }
};

std::string chat_body(const std::string& prompt, const std::string& extra = R"("stream":false)") {
  return R"({"model":"fake","messages":[{"role":"user","content":")" + prompt + R"("}],)" + extra +
         "}";
}

// One POST on its own connection whose chunked answer is read chunk by chunk, as a
// streaming client reads it.
struct chunked_reader {
  boost::asio::ip::tcp::iostream s;
  std::string head;
  chunked_reader(int port, const std::string& target, const std::string& body) {
    s.expires_after(20s);
    s.connect("127.0.0.1", std::to_string(port));
    s << "POST " << target << " HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
      << "X-API-Key: " << admin_api_key() << "\r\n"
      << "Content-Length: " << body.size() << "\r\n\r\n"
      << body << std::flush;
    std::string line;
    while (std::getline(s, line) && line != "\r") head += line + "\n";
  }
  // The next chunk's payload; nullopt at the end of the body (or of the connection).
  std::optional<std::string> next() {
    std::string line;
    if (!std::getline(s, line) || line == "\r") return std::nullopt;
    auto size = std::stoul(line, nullptr, 16);
    if (size == 0) return std::nullopt;
    std::string payload(size, '\0');
    s.read(payload.data(), static_cast<std::streamsize>(size));
    std::getline(s, line);
    return payload;
  }
};

}  // namespace

TEST_CASE("Ollama chat: a miss, then hits in both stream modes with the same content") {
  suite_under_test s;
  http_client client("127.0.0.1", s.http_port);

  auto miss = client.post("/api/chat", chat_body("hello"));
  REQUIRE_MESSAGE(miss.status == 200, miss.body);
  CHECK(miss.headers["x-cache"] == "MISS");
  CHECK(miss.headers["content-type"] == "application/json");
  auto doc = parse_json(miss.body);
  CHECK(doc["done"].GetBool());
  std::string content = doc["message"]["content"].GetString();
  CHECK(content.size() > 16);

  auto hit = client.post("/api/chat", chat_body("hello"));
  CHECK(hit.headers["x-cache"] == "HIT");
  CHECK(content_of(hit.body) == content);

  // Key order and whitespace differ, stream is on (the default): same entry, NDJSON.
  auto streamed = client.post(
      "/api/chat", R"({ "messages": [ {"content":"hello", "role":"user"} ],  "model":"fake" })");
  REQUIRE(streamed.status == 200);
  CHECK(streamed.headers["x-cache"] == "HIT");
  CHECK(streamed.headers["content-type"] == "application/x-ndjson");
  CHECK(count_lines(streamed.body, "{") ==
        17);  // 16 tokens as the model streamed them + the done line
  CHECK(content_of(streamed.body) == content);
  CHECK(s.llm_served() == 1);

  auto other = client.post("/api/chat", chat_body("something else"));
  CHECK(other.headers["x-cache"] == "MISS");
  CHECK(content_of(other.body) != content);

  auto gen = client.post("/api/generate", R"({"model":"fake","prompt":"why","stream":false})");
  REQUIRE(gen.status == 200);
  CHECK(parse_json(gen.body).HasMember("response"));
  CHECK(client.post("/api/generate", R"({"model":"fake","prompt":"why"})").headers["x-cache"] ==
        "HIT");
  CHECK(s.llm_served() == 3);

  auto stats = s.stats();
  CHECK(stats["hits"].GetInt64() == 3);
  CHECK(stats["misses"].GetInt64() == 3);
  CHECK(stats["entries"].GetInt64() == 3);
  CHECK(stats["bytes"].GetInt64() > 0);
  CHECK(stats["hit_ratio"].GetDouble() == doctest::Approx(0.5));

  auto metrics = http_once(s.metrics_port, "GET", "/metrics").body;
  CHECK(metrics.find("suite_chat_cache_hits_total 3") != std::string::npos);
  CHECK(metrics.find("suite_chat_cache_misses_total 3") != std::string::npos);
  CHECK(metrics.find("suite_chat_cache_entries 3") != std::string::npos);
  CHECK(metrics.find("suite_chat_cache_evictions_total{cause=\"size\"} 0") != std::string::npos);
  CHECK(metrics.find("suite_chat_cache_upstream_duration_seconds_count 3") != std::string::npos);
  CHECK(metrics.find("suite_chat_cache_loads_in_flight 0") != std::string::npos);
}

TEST_CASE("OpenAI chat completions: SSE and JSON, miss then hit") {
  suite_under_test s;
  http_client client("127.0.0.1", s.http_port);
  auto body = [](bool stream) {
    return std::string(
               R"({"model":"fake","messages":[{"role":"user","content":"hi"}],"temperature":0.5,"stream":)") +
           (stream ? "true" : "false") + "}";
  };
  auto sse = client.post("/v1/chat/completions", body(true));
  REQUIRE_MESSAGE(sse.status == 200, sse.body);
  CHECK(sse.headers["x-cache"] == "MISS");
  CHECK(sse.headers["content-type"] == "text/event-stream");
  CHECK(sse.body.ends_with("data: [DONE]\n\n"));
  CHECK(count_lines(sse.body, "data: {") == 17);
  auto json = client.post("/v1/chat/completions", body(false));
  CHECK(json.headers["x-cache"] == "HIT");
  auto doc = parse_json(json.body);
  CHECK(std::string(doc["object"].GetString()) == "chat.completion");
  CHECK(content_of(json.body) == content_of(sse.body));
  CHECK(s.llm_served() == 1);
}

TEST_CASE("100 concurrent identical misses: the LLM serves exactly one") {
  suite_under_test s({}, {"--ttft-ms=300", "--threads=1"});
  constexpr int clients = 100;
  std::vector<std::string> bodies(clients);
  std::vector<int> statuses(clients);
  std::vector<std::thread> threads;
  for (int i = 0; i < clients; ++i) {
    threads.emplace_back([&, i] {
      http_client client("127.0.0.1", s.http_port);
      auto r = client.post("/api/chat", chat_body("all at once"));
      statuses[static_cast<std::size_t>(i)] = r.status;
      bodies[static_cast<std::size_t>(i)] = content_of(r.body);
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < clients; ++i) {
    CHECK(statuses[static_cast<std::size_t>(i)] == 200);
    CHECK(bodies[static_cast<std::size_t>(i)] == bodies[0]);
  }
  CHECK(s.llm_served() == 1);
  CHECK(s.stats()["loads_in_flight"].GetInt64() == 0);
}

TEST_CASE(
    "Cache-Control: no-cache goes to the LLM and refreshes the entry; no-store keeps nothing") {
  suite_under_test s;
  http_client client("127.0.0.1", s.http_port);
  CHECK(client.post("/api/chat", chat_body("fresh")).headers["x-cache"] == "MISS");
  auto forced =
      client.request("POST", "/api/chat", chat_body("fresh"), {{"Cache-Control", "no-cache"}});
  CHECK(forced.headers["x-cache"] == "MISS");
  CHECK(s.llm_served() == 2);
  CHECK(client.post("/api/chat", chat_body("fresh")).headers["x-cache"] == "HIT");
  CHECK(s.stats()["evictions"]["replaced"].GetInt64() == 1);

  CHECK(client.request("POST", "/api/chat", chat_body("secret"), {{"Cache-Control", "no-store"}})
            .headers["x-cache"] == "MISS");
  CHECK(client.post("/api/chat", chat_body("secret")).headers["x-cache"] == "MISS");
  CHECK(s.llm_served() == 4);
}

TEST_CASE(
    "upstream errors are passed on and never cached; a dead upstream gives 503, then the breaker") {
  suite_under_test s;
  http_client client("127.0.0.1", s.http_port);
  auto failed = client.post("/api/chat", chat_body("FAIL500"));
  CHECK(failed.status == 502);
  CHECK(client.post("/api/chat", chat_body("FAIL500")).status == 502);
  CHECK(s.llm_served() == 2);  // the error was not cached
  CHECK(client.post("/api/chat", chat_body("kept")).status == 200);

  s.fake.stop();
  for (int i = 0; i < 3; ++i) {
    auto down = client.post("/api/chat", chat_body("while down " + std::to_string(i)));
    CHECK(down.status == 503);
    CHECK(parse_json(down.body)["code"].GetString() == std::string("upstream_unavailable"));
  }
  auto open = client.post("/api/chat", chat_body("while open"));
  CHECK(open.status == 503);
  CHECK(parse_json(open.body)["code"].GetString() == std::string("upstream_circuit_open"));
  auto stats = s.stats();
  CHECK(stats["entries"].GetInt64() == 1);
  CHECK(stats["upstream_circuit_open"].GetBool());
  // Hits are still served while the LLM is down.
  CHECK(client.post("/api/chat", chat_body("kept")).headers["x-cache"] == "HIT");
}

TEST_CASE("the byte bound holds; evictions by size are counted") {
  suite_under_test s({"--cache-max-bytes=20000", "--cache-shards=1"});
  http_client client("127.0.0.1", s.http_port);
  for (int i = 0; i < 60; ++i) {
    auto r =
        client.post("/api/generate",
                    R"({"model":"fake","stream":false,"options":{"num_predict":40},"prompt":"p)" +
                        std::to_string(i) + R"("})");
    REQUIRE(r.status == 200);
  }
  auto stats = s.stats();
  CHECK(stats["bytes"].GetInt64() <= 20000);
  CHECK(stats["bytes"].GetInt64() > 10000);
  CHECK(stats["evictions"]["size"].GetInt64() > 0);
}

TEST_CASE("DELETE /api/cache by key, by model and all") {
  suite_under_test s;
  http_client client("127.0.0.1", s.http_port);
  auto first = client.post("/api/chat", chat_body("one"));
  client.post("/api/chat", chat_body("two"));
  client.post(
      "/api/chat",
      R"({"model":"fake-large","messages":[{"role":"user","content":"one"}],"stream":false})");
  CHECK(s.stats()["entries"].GetInt64() == 3);

  auto by_key = client.request("DELETE", "/api/cache?key=" + first.headers["x-cache-key"]);
  REQUIRE_MESSAGE(by_key.status == 200, by_key.body);
  CHECK(parse_json(by_key.body)["removed"].GetInt64() == 1);
  CHECK(client.post("/api/chat", chat_body("one")).headers["x-cache"] == "MISS");

  CHECK(parse_json(client.request("DELETE", "/api/cache?model=fake-large").body)["removed"]
            .GetInt64() == 1);
  CHECK(parse_json(client.request("DELETE", "/api/cache").body)["removed"].GetInt64() == 2);
  CHECK(s.stats()["entries"].GetInt64() == 0);
  CHECK(s.stats()["evictions"]["explicit"].GetInt64() == 4);
  CHECK(client.request("DELETE", "/api/cache?key=nothex").status == 400);
}

TEST_CASE("stream: true passes tokens on live, to every waiter of the load, late joiners too") {
  // 16 tokens at 10 per second: the load runs for about 1.6 s after its first token.
  suite_under_test s({}, {"--ttft-ms=100", "--tokens-per-second=10"});
  for (const auto& [target, body] :
       {std::pair<std::string, std::string>{"/api/chat", chat_body("live", R"("stream":true)")},
        {"/v1/chat/completions", chat_body("live", R"("stream":true)")}}) {
    CAPTURE(target);
    auto t0 = std::chrono::steady_clock::now();
    chunked_reader first(s.http_port, target, body);
    CHECK(first.head.find("Transfer-Encoding: chunked") != std::string::npos);
    CHECK(first.head.find("X-Cache: MISS") != std::string::npos);
    auto first_chunk = first.next();
    REQUIRE(first_chunk);
    auto ttft = std::chrono::steady_clock::now() - t0;
    // The first token is here while the LLM is still generating the rest: the load is
    // still in flight (ordering, not a time threshold).
    CHECK(s.stats()["loads_in_flight"].GetInt64() == 1);

    // A second identical request joins the running load late, on its own connection.
    chunked_reader late(s.http_port, target, body);
    std::string first_body = *first_chunk, late_body;
    std::size_t first_chunks = 1;
    while (auto c = first.next()) {
      first_body += *c;
      ++first_chunks;
    }
    auto total = std::chrono::steady_clock::now() - t0;
    while (auto c = late.next()) late_body += *c;
    MESSAGE("time to first chunk "
            << std::chrono::duration<double, std::milli>(ttft).count() << " ms, whole stream "
            << std::chrono::duration<double, std::milli>(total).count() << " ms, " << first_chunks
            << " chunks");
    CHECK(first_chunks > 2);         // arrived in pieces, not as one body
    CHECK(late_body == first_body);  // what had arrived, then the rest: the same stream
    CHECK(content_of(first_body).size() > 16);
    if (target.starts_with("/v1")) CHECK(first_body.ends_with("data: [DONE]\n\n"));
    // A hit replays the very same bytes.
    http_client client("127.0.0.1", s.http_port);
    auto hit = client.post(target, body);
    CHECK(hit.headers["x-cache"] == "HIT");
    CHECK(hit.body == first_body);
  }
  CHECK(s.llm_served() == 2);  // one load per API, shared by both waiters
}

TEST_CASE("an LLM failing mid-stream ends the stream with an error and caches nothing") {
  suite_under_test s({}, {"--ttft-ms=50", "--tokens-per-second=5"});
  chunked_reader reader(s.http_port, "/api/chat", chat_body("doomed", R"("stream":true)"));
  REQUIRE(reader.next());
  s.fake.kill_hard();
  std::string last, chunk;
  while (auto c = reader.next()) last = *c;
  auto doc = parse_json(last.substr(0, last.find('\n')));
  REQUIRE(doc.HasMember("error"));
  CHECK(std::string(doc["code"].GetString()) == "upstream_failed");
  CHECK(s.stats()["entries"].GetInt64() == 0);
  CHECK(s.stats()["loads_in_flight"].GetInt64() == 0);
}
