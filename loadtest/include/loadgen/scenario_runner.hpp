// scenario_runner: runs one scenario against the suite and fills a run_report.
//
// In order: skip if a service the scenario needs is not built; probe the scenario's
// "requires" route (404 = not landed yet, 503 = its service is not up: skipped; 401 or
// 403 = the key is missing or wrong, no answer: failed); scrape every
// service's /metrics while idle; run the setup steps; open held connections; then,
// `repeat` times, run the measured load while sampling /metrics every second, and
// record client-side and server-side figures for the run window.
//
// Blocking; one scenario at a time.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "loadgen/request_transport.hpp"
#include "loadgen/run_report.hpp"
#include "loadgen/scenario.hpp"
#include "loadgen/service_monitor.hpp"

namespace loadgen {

struct runner_options {
  std::string host = "127.0.0.1";
  unsigned short port = 8080;
  std::vector<service_endpoint> services = default_service_endpoints();
  std::string bin_dir = "build/bin";  // for binary sizes and "has it landed"
  int repeat = 1;
  std::string git_rev;
  // The measured load goes through this transport; null means HTTP to host:port.
  transport* load_transport = nullptr;
  // Where the scenario's reference system listens (--reference-url); port 0: none.
  std::string reference_host = "127.0.0.1";
  unsigned short reference_port = 0;
  // Sent with every HTTP request after the scenario's own "headers" (--header).
  std::vector<std::pair<std::string, std::string>> headers;
};

run_report run_scenario(const scenario& s, const runner_options& options);

}  // namespace loadgen
