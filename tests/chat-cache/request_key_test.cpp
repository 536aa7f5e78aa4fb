// The cache key (services/chat-cache/request_key.hpp) and Cache-Control parsing.
#include <doctest/doctest.h>

#include "chat_service.hpp"
#include "request_key.hpp"
#include "suite/json_msgpack.hpp"

using namespace suite;
using namespace suite::chat_cache;

namespace {

cache_key key_of(std::string_view json, std::string_view api = "ollama.chat",
                 std::string_view tenant = "default") {
  auto body = json_to_msgpack(json, nullptr);
  REQUIRE(body.ok());
  return request_key(tenant, api, body->object);
}

}  // namespace

TEST_CASE("key order and whitespace do not change the key") {
  auto a = key_of(
      R"({"model":"m","messages":[{"role":"user","content":"hi"}],"options":{"temperature":0.7,"seed":1}})");
  auto b = key_of(R"({ "options" : { "seed":1, "temperature":0.7 },
                      "messages":[ {"content":"hi", "role":"user"} ], "model":"m" })");
  CHECK(a == b);
}

TEST_CASE("delivery fields and gateway headers are not part of the key") {
  auto a = key_of(R"({"model":"m","prompt":"p"})");
  CHECK(a == key_of(R"({"model":"m","prompt":"p","stream":true,"keep_alive":"5m"})"));
  CHECK(a == key_of(R"({"model":"m","prompt":"p","http_cache_control":"no-cache"})"));
}

TEST_CASE("tenants never share a key: one cannot read, or detect, another's answers") {
  auto body = R"({"model":"m","prompt":"p"})";
  CHECK_FALSE(key_of(body, "ollama.generate", "tenant-a") ==
              key_of(body, "ollama.generate", "tenant-b"));
  CHECK(key_of(body, "ollama.generate", "tenant-a") == key_of(body, "ollama.generate", "tenant-a"));
}

TEST_CASE("anything that changes the answer changes the key") {
  auto a = key_of(R"({"model":"m","messages":[{"role":"user","content":"hi"}]})");
  CHECK_FALSE(a == key_of(R"({"model":"m2","messages":[{"role":"user","content":"hi"}]})"));
  CHECK_FALSE(a == key_of(R"({"model":"m","messages":[{"role":"user","content":"hi!"}]})"));
  CHECK_FALSE(
      a == key_of(R"({"model":"m","messages":[{"role":"user","content":"hi"}],"format":"json"})"));
  CHECK_FALSE(a ==
              key_of(R"({"model":"m","messages":[{"role":"user","content":"hi"}],"tools":[]})"));
  CHECK_FALSE(
      a == key_of(R"({"model":"m","messages":[{"role":"user","content":"hi"}]})", "openai.chat"));
  // Message order matters (arrays keep their order).
  CHECK_FALSE(
      key_of(
          R"({"model":"m","messages":[{"role":"user","content":"a"},{"role":"user","content":"b"}]})") ==
      key_of(
          R"({"model":"m","messages":[{"role":"user","content":"b"},{"role":"user","content":"a"}]})"));
  // Strings that look alike under naive concatenation stay apart.
  CHECK_FALSE(key_of(R"({"model":"ab","prompt":"c"})") == key_of(R"({"model":"a","prompt":"bc"})"));
}

TEST_CASE("keys print as 32 hex digits and parse back") {
  auto k = key_of(R"({"model":"m","prompt":"p"})");
  auto text = k.hex();
  CHECK(text.size() == 32);
  CHECK(cache_key::from_hex(text) == k);
  CHECK_FALSE(cache_key::from_hex("xyz"));
  CHECK_FALSE(cache_key::from_hex(std::string(32, 'g')));
}

TEST_CASE("Cache-Control directives") {
  auto c = parse_cache_control("No-Cache, max-age=60");
  CHECK(c.no_cache);
  CHECK_FALSE(c.no_store);
  REQUIRE(c.max_age);
  CHECK(c.max_age->count() == 60000);
  CHECK(parse_cache_control("no-store").no_store);
  CHECK_FALSE(parse_cache_control("max-age=abc").max_age);
  CHECK_FALSE(parse_cache_control("").no_cache);
  auto zero = parse_cache_control("max-age=0");
  CHECK(zero.no_cache);
  CHECK_FALSE(zero.max_age);
}
