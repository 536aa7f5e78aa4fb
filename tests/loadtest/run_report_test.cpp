#include "loadgen/run_report.hpp"

#include <doctest/doctest.h>

using loadgen::run_report;

namespace {

run_report sample(std::initializer_list<double> throughputs, double p99) {
  run_report r;
  r.scenario = "demo";
  r.git_rev = "abc";
  r.machine = {"cpu", 2, 24};
  for (double t : throughputs) {
    r.add("total.throughput_per_s", t);
    r.add("total.latency_ms.p99", p99);
    ++r.runs;
  }
  r.add("services.gateway.peak_rss_mb", 12.5);
  return r;
}

}  // namespace

TEST_CASE("repeated runs give min, median and max, and survive a JSON round trip") {
  const run_report a = sample({1000, 1200, 900}, 2.0);
  const auto r = a.range("total.throughput_per_s");
  CHECK(r.min == 900);
  CHECK(r.median == 1000);
  CHECK(r.max == 1200);

  run_report back;
  REQUIRE(loadgen::read_report(a.to_json(), back).empty());
  CHECK(back.scenario == "demo");
  CHECK(back.runs == 3);
  CHECK(back.machine.cores == 2);
  const auto again = back.range("total.throughput_per_s");
  CHECK(again.min == 900);
  CHECK(again.median == 1000);
  CHECK(again.max == 1200);
  CHECK(back.range("services.gateway.peak_rss_mb").median == 12.5);
}

TEST_CASE("compare gives ratios and calls overlapping ranges noise") {
  const run_report a = sample({1000, 1100, 950}, 2.0);
  const run_report b = sample({1050, 1150, 1000}, 4.0);  // overlaps a
  const run_report c = sample({2000, 2100, 1900}, 4.0);  // clearly faster
  const std::string ab = loadgen::compare_reports(a, b);
  const std::string ac = loadgen::compare_reports(a, c);
  const auto line_of = [](const std::string& text, const std::string& key) {
    const auto at = text.find(key);
    REQUIRE(at != std::string::npos);
    return text.substr(at, text.find('\n', at) - at);
  };
  CHECK(line_of(ab, "total.throughput_per_s").find("1.050") != std::string::npos);
  CHECK(line_of(ab, "total.throughput_per_s").find("noise") != std::string::npos);
  CHECK(line_of(ac, "total.throughput_per_s").find("2.000") != std::string::npos);
  CHECK(line_of(ac, "total.throughput_per_s").find("noise") == std::string::npos);
  CHECK(line_of(ac, "total.latency_ms.p99").find("2.000") != std::string::npos);
}

TEST_CASE("the markdown table has the original reports' rows") {
  run_report r = sample({1000}, 2.0);
  r.add("total.errors", 0);
  r.add("total.latency_ms.p50", 1.0);
  r.add("total.latency_ms.p95", 1.5);
  r.add("services.gateway.idle_rss_mb", 4.0);
  r.add("services.gateway.startup_ms", 12);
  r.add("services.gateway.binary_mb", 3.25);
  const std::string md = r.to_markdown();
  CHECK(md.find("| throughput | 1,000 req/s |") != std::string::npos);
  CHECK(md.find("| latency p50 / p95 / p99 | 1.00 / 1.50 / 2.00 ms |") != std::string::npos);
  CHECK(md.find("| idle RSS / peak RSS | gateway 4.00 / 12.5 MB |") != std::string::npos);
  CHECK(md.find("| startup | gateway 12.0 ms |") != std::string::npos);
  CHECK(md.find("| failed requests | 0 |") != std::string::npos);
  CHECK(md.find("| binary size | gateway 3.25 MB |") != std::string::npos);
}

TEST_CASE("the summary has one row per report, with its status and figures") {
  run_report ok = sample({1000}, 2.0);
  ok.add("total.latency_ms.p50", 0.5);
  ok.add("total.errors", 0);
  run_report skipped;
  skipped.scenario = "later";
  skipped.status = "skipped";
  skipped.message = "not landed";
  const std::string table = loadgen::summary_table({ok, skipped});
  CHECK(table.find("| demo | ok | 1,000 | 0.500 | 2.00 | 0 | 12.5 | - |") != std::string::npos);
  CHECK(table.find("| later | skipped: not landed | - | - | - | - | - | - |") != std::string::npos);
}
