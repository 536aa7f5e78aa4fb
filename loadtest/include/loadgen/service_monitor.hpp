// service_monitor: watches the suite's processes through their /metrics ports while
// a scenario runs: memory (idle before, peak during, after), CPU used in the run
// window, start-to-ready time, and each service's request-duration histogram, so the
// server-side latency of the run window can be set beside the client-side one.
//
// Each process is one service on its own port (design.md: gateway 9100,
// clinic-records 9101, chat-cache 9102, event-ingest 9103, rem-store 9104). A port
// that does not answer is a service that is not running; it is left out.
//
// snapshot() may be called from any thread. start_sampling()/stop_sampling() run one
// background thread that snapshots every interval and keeps the peaks; call them from
// one controlling thread.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "loadgen/prometheus_text.hpp"

namespace loadgen {

struct service_endpoint {
  std::string name;
  unsigned short port = 0;
};

// The default local layout from design.md.
std::vector<service_endpoint> default_service_endpoints();

// What one scrape of one service said.
struct service_state {
  bool up = false;
  double rss_bytes = 0;
  double cpu_seconds = 0;
  double startup_seconds = -1;  // -1: not exported
  std::map<std::string, std::string> build_info;
  // suite_request_duration_seconds of this service, all ops summed, in seconds.
  histogram_buckets latency;
  double request_count = 0;
};

using suite_snapshot = std::map<std::string, service_state>;  // by service name

class service_monitor {
 public:
  service_monitor(std::string host, std::vector<service_endpoint> services);
  ~service_monitor();

  suite_snapshot snapshot() const;

  void start_sampling(std::chrono::milliseconds interval);
  // Stops the sampler; returns the highest RSS each service showed meanwhile.
  std::map<std::string, double> stop_sampling();

 private:
  std::string host_;
  std::vector<service_endpoint> services_;
  std::thread sampler_;
  std::atomic<bool> sampling_{false};
  std::mutex peaks_mutex_;
  std::map<std::string, double> peak_rss_;
};

// Reads one service's exposition text into a service_state (exposed for tests).
service_state read_service_state(const std::string& service, std::string_view metrics_text);

}  // namespace loadgen
