// The scenario runner against in-process HTTP servers standing in for the gateway and
// for a reference system: the reference is run with the same load, in the same run,
// and its figures land in the report, the JSON and the markdown.
#include "loadgen/scenario_runner.hpp"

#include <doctest/doctest.h>

#include "delay_server.hpp"
#include "loadgen/run_report.hpp"
#include "loadgen/scenario.hpp"

using namespace std::chrono_literals;

TEST_CASE("a scenario's reference system is measured with the same load in the same run") {
  loadgen_test::delay_server suite(2ms);      // slower: the "suite"
  loadgen_test::delay_server reference(0ms);  // faster: the reference
  const auto loaded = loadgen::parse_scenario(R"({
    "name": "ref-demo",
    "requires": "GET /healthz",
    "load": {"model": "closed", "users": 4},
    "requests": 200,
    "mix": [{"name": "get", "path": "/thing"}],
    "reference": {"name": "static server", "path": "/static.json"}
  })",
                                              "ref-demo.json");
  REQUIRE_MESSAGE(loaded.ok, loaded.error);
  loadgen::runner_options options;
  options.port = suite.port();
  options.services.clear();  // no /metrics to scrape here
  options.bin_dir = "/nonexistent";
  options.reference_port = reference.port();
  const auto report = loadgen::run_scenario(loaded.value, options);
  REQUIRE_MESSAGE(report.status == "ok", report.message);
  CHECK(report.range("reference.count").median == 200);
  CHECK(report.range("reference.errors").median == 0);
  CHECK(report.reference_name == "static server");
  CHECK(report.reference_url.ends_with("/static.json"));
  CHECK(reference.last_head().starts_with("GET /static.json HTTP/1.1"));
  // The 2 ms server is slower than the immediate one, and the report says so.
  CHECK(report.range("total.latency_ms.p50").median >
        report.range("reference.latency_ms.p50").median);
  const std::string md = report.to_markdown();
  CHECK(md.find("| reference: static server (same load, same run) |") != std::string::npos);
  CHECK(md.find("suite / reference: throughput") != std::string::npos);

  loadgen::run_report back;
  REQUIRE(loadgen::read_report(report.to_json(), back).empty());
  CHECK(back.reference_name == "static server");
  CHECK(back.range("reference.throughput_per_s").median ==
        doctest::Approx(report.range("reference.throughput_per_s").median).epsilon(0.001));
  const std::string compared = loadgen::compare_reports(back, back);
  CHECK(compared.find("A reference: static server; suite / reference: throughput") !=
        std::string::npos);
  CHECK(compared.find("reference.throughput_per_s") != std::string::npos);
}

TEST_CASE("without --reference-url the reference is named, not measured") {
  loadgen_test::delay_server suite(0ms);
  const auto loaded = loadgen::parse_scenario(R"({
    "name": "ref-demo", "requires": "GET /healthz", "load": {"model": "closed", "users": 1},
    "requests": 5, "mix": [{"name": "get", "path": "/thing"}],
    "reference": {"name": "static server", "path": "/static.json"}})",
                                              "ref-demo.json");
  REQUIRE(loaded.ok);
  loadgen::runner_options options;
  options.port = suite.port();
  options.services.clear();
  options.bin_dir = "/nonexistent";
  const auto report = loadgen::run_scenario(loaded.value, options);
  CHECK(report.status == "ok");
  CHECK_FALSE(report.has("reference.throughput_per_s"));
  CHECK(report.to_markdown().find("not measured (no --reference-url)") != std::string::npos);
}

TEST_CASE("a bad reference block is an error with its line") {
  const auto loaded = loadgen::parse_scenario(
      "{\"name\": \"x\", \"requires\": \"GET /a\", \"load\": {\"model\": \"closed\", \"users\": "
      "1},\n"
      "\"requests\": 1, \"mix\": [{\"name\": \"get\", \"path\": \"/a\"}],\n"
      "\"reference\": {\"name\": \"nginx\", \"path\": \"no-slash\"}}",
      "x.json");
  REQUIRE_FALSE(loaded.ok);
  CHECK(loaded.error == "x.json:3: reference.path: must start with /");
}
