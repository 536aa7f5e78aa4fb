// event_model: validation names every bad field; the stored record is normalised.
#include <doctest/doctest.h>

#include "event_model.hpp"
#include "suite/json_msgpack.hpp"

using namespace event_ingest;

namespace {

const pricing_table& prices() {
  static auto table = pricing_table::parse(pricing_table::embedded_json()).value();
  return table;
}

suite::msgpack_value body(const std::string& json) {
  return suite::json_to_msgpack(json, nullptr).value();
}

std::vector<std::string> error_fields(const prepare_result& r) {
  std::vector<std::string> fields;
  if (const auto* errors = std::get_if<std::vector<suite::error_detail>>(&r)) {
    for (const auto& e : *errors) fields.push_back(e.field);
  }
  return fields;
}

std::string stored_json(const prepared_event& e) {
  auto value = suite::parse_msgpack(e.packed.data(), e.packed.size()).value();
  std::string out;
  suite::msgpack_to_json(value.object, out);
  return out;
}

}  // namespace

TEST_CASE("every invalid field is reported by name") {
  auto r = prepare_event(
      body(R"({"agent_type":3,"event_type":"nope","status":"ok","tokens_in":-2,"tokens_out":1.5,
                                  "cost_usd":"free","event_id":"","model":7})")
          .object,
      prices(), 0);
  CHECK(error_fields(r) == std::vector<std::string>{"session_id", "agent_type", "event_type",
                                                    "status", "model", "tokens_in", "tokens_out",
                                                    "cost_usd", "event_id"});
  auto array = suite::pack_value([](suite::msgpack_packer& p) {
    p.pack_array(1);
    p.pack_int(1);
  });
  auto not_object = prepare_event(array.object, prices(), 0);
  CHECK(error_fields(not_object) == std::vector<std::string>{"body"});
}

TEST_CASE("a valid event is normalised into its stored record") {
  auto r = prepare_event(
      body(R"({"session_id":"s","agent_type":"a","event_type":"llm_response","event_id":"e1",
                                  "model":"gpt-4o","tokens_in":1000,"tokens_out":100,"duration_ms":12.5,
                                  "client_timestamp":"2026-01-01T00:00:00Z","extra":"ignored"})")
          .object,
      prices(), 1'700'000'000'123);
  REQUIRE(std::holds_alternative<prepared_event>(r));
  const auto& e = std::get<prepared_event>(r);
  CHECK(e.id == "e1");
  CHECK(e.deduplicates);
  CHECK(e.cost_nano == 3'500'000);
  auto json = stored_json(e);
  CHECK(json.find(R"("cost_usd":0.0035)") != std::string::npos);
  CHECK(json.find(R"("duration_ms":12.5)") != std::string::npos);
  CHECK(json.find(R"("created_at":"2023-11-14T22:13:20.123Z")") != std::string::npos);
  CHECK(json.find("extra") == std::string::npos);
}

TEST_CASE("an explicit cost_usd is kept as sent, a missing event_id gets a generated id") {
  auto r = prepare_event(
      body(R"({"session_id":"s","agent_type":"a","event_type":"tool_use","model":"gpt-4o",
                                  "tokens_in":1000,"cost_usd":0.10})")
          .object,
      prices(), 0);
  REQUIRE(std::holds_alternative<prepared_event>(r));
  const auto& e = std::get<prepared_event>(r);
  CHECK_FALSE(e.deduplicates);
  CHECK(e.id.starts_with("evt_"));
  CHECK(e.cost_nano == 100'000'000);
  CHECK(stored_json(e).find(R"("cost_usd":0.10)") != std::string::npos);
}

TEST_CASE("UTF-8 cuts never split a character") {
  std::string text =
      "ab\xC3\xA9"     // é
      "\xE2\x82\xAC";  // €
  CHECK(cut_utf8(text, 3) == "ab");
  CHECK(cut_utf8(text, 4) == "ab\xC3\xA9");
  CHECK(cut_utf8(text, 6) == "ab\xC3\xA9");
  CHECK(cut_utf8(text, 7) == text);
}

TEST_CASE("metadata over 10 KB is cut and flagged; a long string too") {
  std::string big(20000, 'x');
  auto r = prepare_event(
      body(R"({"session_id":"s","agent_type":"a","event_type":"tool_use","metadata":")" + big +
           "\"}")
          .object,
      prices(), 0);
  REQUIRE(std::holds_alternative<prepared_event>(r));
  auto json = stored_json(std::get<prepared_event>(r));
  CHECK(json.find(R"("payload_truncated":true)") != std::string::npos);
  CHECK(json.size() < 10240 + 1000);
}
