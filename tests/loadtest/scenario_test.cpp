#include "loadgen/scenario.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#ifndef LOADGEN_SCENARIO_DIR
#error "LOADGEN_SCENARIO_DIR must name loadtest/scenarios"
#endif

namespace {

constexpr const char* valid = R"({
  // Comments are allowed.
  "name": "demo",
  "requires": "GET /api/health",
  "load": {"model": "open", "rate_per_s": 100, "connections": 4, "arrival": "poisson"},
  "duration_s": 10,
  "warmup": {"seconds": 2},
  "setup": [
    {"name": "create", "count": 5, "method": "POST", "path": "/api/things",
     "body": {"n": "${seq}"}, "capture": {"things": "id"}}
  ],
  "mix": [
    {"name": "get", "weight": 3, "path": "/api/things/${pick:things}"},
    {"name": "put", "weight": 1, "method": "PUT", "path": "/api/things/${pick:things}",
     "body": {"text": "${text:20}"}, "expect": [200, 409]}
  ]
})";

std::string error_of(const std::string& text) {
  const auto result = loadgen::parse_scenario(text, "demo.json");
  return result.ok ? "" : result.error;
}

// `valid` with the first occurrence of `from` replaced by `to`.
std::string with(std::string_view from, std::string_view to) {
  std::string text = valid;
  const auto at = text.find(from);
  REQUIRE(at != std::string::npos);
  text.replace(at, from.size(), to);
  return text;
}

}  // namespace

TEST_CASE("a valid scenario compiles into a plan") {
  const auto result = loadgen::parse_scenario(valid, "demo.json");
  REQUIRE_MESSAGE(result.ok, result.error);
  const auto& s = result.value;
  CHECK(s.name == "demo");
  CHECK(s.probe_path == "/api/health");
  CHECK(s.plan.model == loadgen::arrival_model::open);
  CHECK(s.plan.poisson);
  CHECK(s.plan.connections == 4);
  CHECK(s.plan.duration == std::chrono::seconds(10));
  CHECK(s.plan.warmup_time == std::chrono::seconds(2));
  REQUIRE(s.setup.size() == 1);
  CHECK(s.setup[0].count == 5);
  REQUIRE(s.plan.mix.size() == 2);
  CHECK(s.plan.mix[1].expect_status == std::vector<int>{200, 409});
}

TEST_CASE("errors name the file, the line and the field") {
  CHECK(error_of(with("\"rate_per_s\": 100", "\"rate_per_s\": -1")) ==
        "demo.json:5: load.rate_per_s: must be between 0.001 and 1e+07, got -1");
  CHECK(error_of(with("\"weight\": 3", "\"wieght\": 3"))
            .starts_with("demo.json:13: mix[0].wieght: unknown field"));
  CHECK(error_of(with("\"method\": \"PUT\"", "\"method\": \"FETCH\"")) ==
        "demo.json:14: mix[1].method: must be one of GET, POST, PUT, PATCH, DELETE, HEAD");
  CHECK(error_of(with("${text:20}", "${txt:20}"))
            .starts_with("demo.json:15: mix[1].body: unknown placeholder \"${txt:20}\""));
  CHECK(error_of(with("\"capture\": {\"things\": \"id\"}", "\"capture\": {}")) ==
        "demo.json:13: mix[0].path: picks from pool \"things\" but no setup step or request "
        "captures into it");
  CHECK(error_of(with("\"duration_s\": 10,", "")) ==
        "demo.json:1: (top): needs exactly one of \"duration_s\" and \"requests\"");
  CHECK(error_of(with("\"arrival\": \"poisson\"", "\"arrival\": \"bursty\"")) ==
        "demo.json:5: load.arrival: must be \"constant\" or \"poisson\"");
  CHECK(error_of(with("\"warmup\": {\"seconds\": 2}", "\"warmup\": {\"requests\": 2}")) ==
        "demo.json:7: warmup.requests: a run with \"duration_s\" warms up in \"seconds\"");
  CHECK(error_of(with("\"count\": 5, ", "")) ==
        "demo.json:9: setup[0]: missing required field \"count\"");
}

TEST_CASE("a syntax error gives its line and column") {
  CHECK(error_of(with("\"duration_s\": 10,", "\"duration_s\": 10 x")) ==
        "demo.json:6:20: Missing a comma or '}' after an object member.");
}

TEST_CASE("a scenario extends another and overrides some fields") {
  const auto dir = std::filesystem::temp_directory_path() / "loadgen_scenario_test";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "base.json") << valid;
  std::ofstream(dir / "more.json") << R"({"extends": "base.json", "name": "more",
    "load": {"model": "closed", "users": 7}, "duration_s": null, "requests": 100,
    "warmup": null})";
  std::ofstream(dir / "bad.json") << R"({"extends": "base.json",
    "load": {"model": "open", "rate_per_s": 5, "connections": 0}})";
  const auto more = loadgen::load_scenario((dir / "more.json").string());
  REQUIRE_MESSAGE(more.ok, more.error);
  CHECK(more.value.name == "more");
  CHECK(more.value.plan.model == loadgen::arrival_model::closed);
  CHECK(more.value.plan.connections == 7);
  CHECK(more.value.plan.request_count == 100);
  CHECK(more.value.plan.mix.size() == 2);  // kept from base.json
  CHECK(more.value.plan.mix[1].expect_status == std::vector<int>{200, 409});
  const auto bad = loadgen::load_scenario((dir / "bad.json").string());
  CHECK(bad.error ==
        (dir / "bad.json").string() + ":2: load.connections: must be between 1 and 100000, got 0");
  std::filesystem::remove_all(dir);
}

TEST_CASE("every scenario file of the suite is valid") {
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(LOADGEN_SCENARIO_DIR)) {
    if (entry.path().extension() != ".json") continue;
    ++files;
    const auto result = loadgen::load_scenario(entry.path().string());
    CHECK_MESSAGE(result.ok, result.error);
    CHECK(result.value.name == entry.path().stem().string());
  }
  CHECK(files >= 19);
}

TEST_CASE("a scenario's headers are read and checked with their line") {
  const auto result = loadgen::parse_scenario(
      with("\"duration_s\": 10,", "\"duration_s\": 10,\n  \"headers\": {\"X-API-Key\": \"k1\"},"),
      "demo.json");
  REQUIRE_MESSAGE(result.ok, result.error);
  REQUIRE(result.value.headers.size() == 1);
  CHECK(result.value.headers[0].first == "X-API-Key");
  CHECK(result.value.headers[0].second == "k1");
  CHECK(error_of(
            with("\"duration_s\": 10,", "\"duration_s\": 10,\n  \"headers\": {\"X Key\": \"k\"},"))
            .starts_with("demo.json:7: headers.X Key: header name"));
  CHECK(error_of(with("\"duration_s\": 10,", "\"duration_s\": 10,\n  \"headers\": {\"K\": 5},")) ==
        "demo.json:7: headers.K: must be a string");
}
