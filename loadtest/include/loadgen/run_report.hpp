// run_report: the results of one scenario (over one or more repeated runs), written
// as results/<scenario>.json and as markdown tables in the shape of the original
// benchmark reports, read back, and compared between two machines or builds.
//
// Figures are numbers addressed by dotted paths ("total.throughput_per_s",
// "ops.get_patient.latency_ms.p99", "services.gateway.peak_rss_mb"); each run adds
// one value per figure and the report gives min / median / max over the runs. In the
// JSON a figure is its median, with "<name>_range": [min, median, max] beside it when
// there was more than one run. `compare` marks a difference as noise when the two
// ranges overlap.
//
// Plain data; not thread-safe.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace loadgen {

struct machine_info {
  std::string cpu_model;
  unsigned cores = 0;
  double mem_gb = 0;
};

machine_info this_machine();

struct figure_range {
  double min = 0, median = 0, max = 0;
};

struct run_report {
  std::string scenario;
  std::string description;
  std::string status = "ok";  // ok | failed | skipped
  std::string message;        // why it failed or was skipped
  std::string git_rev;
  std::string started_at;  // ISO 8601, UTC
  std::string load;        // how the load was applied, in words
  bool open_loop = false;
  machine_info machine;
  int runs = 0;
  std::vector<std::string> errors;  // sample failures
  std::map<std::string, std::vector<double>> figures;
  // The reference system measured with the same load in the same run (e.g. nginx
  // serving a static file), its figures under "reference.": name and where it ran.
  std::string reference_name;
  std::string reference_url;

  void add(const std::string& path, double value) { figures[path].push_back(value); }
  bool has(const std::string& path) const { return figures.count(path) != 0; }
  figure_range range(const std::string& path) const;

  std::string to_json() const;
  std::string to_markdown() const;
};

// One markdown table, one row per report: status, throughput, p50 / p99, errors, the
// busiest service's peak RSS, and the reference ratio where there is one.
std::string summary_table(const std::vector<run_report>& reports);

// Reads a report written by to_json(); returns "" or an error.
std::string read_report(const std::string& json_text, run_report& out);

// The side-by-side table of `compare`: every figure both reports have, B / A, and
// "noise" where the ranges overlap; with each side's reference (name and the suite's
// throughput and p50 relative to it) when the reports have one.
std::string compare_reports(const run_report& a, const run_report& b);

}  // namespace loadgen
