// load_plan: everything the load engine needs to run one phase of load, already
// validated (by scenario.cpp or the command line): the weighted mix of requests and
// how to send them (arrival model, connections, duration or count, warm-up, ramp).
// Plain data; immutable while a run uses it.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "loadgen/request_template.hpp"

namespace loadgen {

struct capture_rule {
  std::size_t pool = 0;  // value_pools index
  std::string field;     // JSON key in the response body
};

// One kind of request in the mix.
struct request_spec {
  std::string name;
  double weight = 1;
  std::string method = "GET";
  request_template target;         // path and query
  request_template body;           // empty template = no body
  std::vector<int> expect_status;  // empty = any 2xx
  std::vector<capture_rule> captures;
  std::uint64_t events_per_request = 1;  // for events_per_s when a request carries several
};

enum class arrival_model { closed, open };

struct load_plan {
  std::vector<request_spec> mix;
  arrival_model model = arrival_model::closed;
  std::size_t connections = 1;  // closed: virtual users; open: connections the schedule uses
  double rate_per_s = 0;        // open loop only
  bool poisson = false;         // open loop: Poisson arrivals instead of constant spacing
  std::chrono::nanoseconds think_time{0};  // closed loop only
  // The measured part: a duration, or else a number of requests.
  std::chrono::nanoseconds duration{0};
  std::uint64_t request_count = 0;
  // Not measured, before it: seconds (with a duration) or requests (with a count).
  std::chrono::nanoseconds warmup_time{0};
  std::uint64_t warmup_requests = 0;
  std::chrono::nanoseconds ramp{0};
  std::chrono::nanoseconds timeout{std::chrono::seconds(30)};
  unsigned threads = 1;
  bool allow_errors = false;
  std::uint64_t seed = 1;
};

}  // namespace loadgen
