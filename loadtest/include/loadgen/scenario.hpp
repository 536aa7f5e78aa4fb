// scenario: a load test described in a file of loadtest/scenarios/, read, validated
// and compiled into load_plans. The format is documented in loadtest/README.md.
//
// Every mistake in a file is reported as "<file>:<line>: <field>: <what is wrong>"
// (the line of the field, or of the object missing it) and nothing is run. A file
// may "extend" another one in the same folder and override some of its fields.
//
// A loaded scenario is plain data; it is not modified by running it.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "loadgen/load_plan.hpp"
#include "loadgen/value_pools.hpp"

namespace loadgen {

// Requests run once, before the measured load, to create what the mix refers to.
struct setup_step {
  request_spec request;
  std::uint64_t count = 1;
  std::size_t users = 1;
};

// Connections held open (and not measured) during the run, e.g. for c10k.
struct held_connections {
  std::size_t idle = 0;  // keep-alive connections that each send one request, then idle
  std::string idle_path = "/healthz";
  std::size_t streams = 0;  // server-sent-event streams read and discarded
  std::string stream_path;
};

struct scenario {
  std::string name;
  std::string description;
  std::string file;
  // "METHOD /path" probed before anything else: a 404 means the service has not
  // landed yet and the scenario is skipped, not failed.
  std::string probe_method = "GET";
  std::string probe_path;
  // The backends the scenario exercises besides the gateway; a backend whose binary
  // is not built yet also makes the scenario skip.
  std::vector<std::string> services;
  // Request headers sent with every HTTP request of the scenario (setup, load, probe,
  // held connections), e.g. {"X-API-Key": "..."}; --header adds to them.
  std::vector<std::pair<std::string, std::string>> headers;
  std::vector<setup_step> setup;
  load_plan plan;
  held_connections hold;
  // A reference system run with the same load plan right after each measured run
  // ("reference": {"name": ..., "path": ...}); its address comes from the command
  // line (--reference-url), since it is not part of the suite.
  std::string reference_name;
  std::string reference_path;
  value_pools pools;  // pool names known to the templates (empty pools)
};

struct scenario_load_result {
  bool ok = false;
  std::string error;  // "<file>:<line>: <field>: <message>"
  scenario value;
};

// Reads and validates `path`.
scenario_load_result load_scenario(const std::string& path);
// Validates scenario text as if read from `file_name` (used by tests and load_scenario).
scenario_load_result parse_scenario(const std::string& text, const std::string& file_name);

}  // namespace loadgen
