// The LLM client (services/chat-cache/llm_client.hpp) against the real fake-llm server
// over loopback: streamed replies, connection reuse, connect retries, the breaker.
#include <doctest/doctest.h>

#include <future>

#include "fake_llm.hpp"
#include "llm_answer.hpp"
#include "llm_client.hpp"
#include "test_process.hpp"

using namespace suite;
using namespace suite::chat_cache;
using namespace std::chrono_literals;

namespace {

result<llm_response> post_sync(llm_client& client, const std::string& path,
                               const std::string& body) {
  std::promise<result<llm_response>> promise;
  auto future = promise.get_future();
  client.post(path, body, [&promise](result<llm_response> r) { promise.set_value(std::move(r)); });
  return future.get();
}

}  // namespace

TEST_CASE("streamed chat from the fake LLM, twice over one pooled connection, deterministic") {
  fake_llm::settings fs;
  fs.listen = "127.0.0.1:0";
  fs.tokens = 5;
  fake_llm::server fake(fs);
  REQUIRE(fake.start());
  llm_client_settings s;
  s.base_url = "http://127.0.0.1:" + std::to_string(fake.port());
  auto client = llm_client::create(s);
  REQUIRE(client.ok());
  std::string body =
      R"({"model":"fake","messages":[{"role":"user","content":"hello"}],"stream":true})";
  auto first = post_sync(**client, "/api/chat", body);
  REQUIRE(first.ok());
  CHECK(first->status == 200);
  auto answer = parse_upstream(api_family::ollama_chat, first->body);
  REQUIRE(answer.ok());
  CHECK(answer->piece_count() == 5);
  auto second = post_sync(**client, "/api/chat", body);
  REQUIRE(second.ok());
  CHECK(parse_upstream(api_family::ollama_chat, second->body)->content() == answer->content());

  auto openai =
      post_sync(**client, "/v1/chat/completions",
                R"({"model":"fake","messages":[{"role":"user","content":"hello"}],"stream":true})");
  REQUIRE(openai.ok());
  CHECK(openai->body.ends_with("data: [DONE]\n\n"));
  CHECK(parse_upstream(api_family::openai_chat, openai->body)->piece_count() == 5);

  auto failing = post_sync(**client, "/api/chat",
                           R"({"model":"fake","messages":[{"role":"user","content":"FAIL500"}]})");
  REQUIRE(failing.ok());
  CHECK(failing->status == 500);
}

TEST_CASE("nothing listening: retries, then 503; repeated failures open the breaker") {
  llm_client_settings s;
  s.base_url = "http://127.0.0.1:" + std::to_string(test::free_port());
  s.connect_retries = 1;
  s.retry_backoff = 5ms;
  s.breaker_failures = 3;
  s.breaker_cooldown = 200ms;
  auto client = llm_client::create(s);
  REQUIRE(client.ok());
  for (int i = 0; i < 3; ++i) {
    auto r = post_sync(**client, "/api/chat", "{}");
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().status == 503);
    CHECK(r.error().code == "upstream_unavailable");
  }
  CHECK((*client)->circuit_open());
  auto refused = post_sync(**client, "/api/chat", "{}");
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == "upstream_circuit_open");
  std::this_thread::sleep_for(250ms);
  auto trial =
      post_sync(**client, "/api/chat", "{}");  // half-open: one trial goes through (and fails)
  REQUIRE_FALSE(trial.ok());
  CHECK(trial.error().code == "upstream_unavailable");
}

TEST_CASE("a bad LLM URL is refused") {
  llm_client_settings s;
  s.base_url = "ftp://x";
  CHECK_FALSE(llm_client::create(s).ok());
}

TEST_CASE("an LLM slower than the time-out gives 504 and no retry") {
  fake_llm::settings fs;
  fs.listen = "127.0.0.1:0";
  fs.ttft_ms = 400;
  fake_llm::server fake(fs);
  REQUIRE(fake.start());
  llm_client_settings s;
  s.base_url = "http://127.0.0.1:" + std::to_string(fake.port());
  s.request_timeout = 100ms;
  auto client = llm_client::create(s);
  REQUIRE(client.ok());
  auto r = post_sync(**client, "/api/chat",
                     R"({"model":"fake","messages":[{"role":"user","content":"slow"}]})");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().status == 504);
  CHECK(r.error().code == "upstream_timeout");
}
