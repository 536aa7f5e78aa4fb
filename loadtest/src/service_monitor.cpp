#include "loadgen/service_monitor.hpp"
#include <cstdlib>

#include <algorithm>
#include <limits>

#include "loadgen/http_fetch.hpp"

namespace loadgen {

std::vector<service_endpoint> default_service_endpoints() {
  return {{"gateway", 9100},
          {"clinic-records", 9101},
          {"chat-cache", 9102},
          {"event-ingest", 9103},
          {"rem-store", 9104}};
}

service_state read_service_state(const std::string& service, std::string_view metrics_text) {
  service_state state;
  state.up = true;
  for (const auto& s : parse_prometheus_text(metrics_text)) {
    if (s.name == "process_resident_memory_bytes") {
      state.rss_bytes = s.value;
    } else if (s.name == "process_cpu_seconds_total") {
      state.cpu_seconds = s.value;
    } else if (s.name == "suite_startup_seconds" &&
               (s.label("service").empty() || s.label("service") == service)) {
      state.startup_seconds = s.value;
    } else if (s.name == "suite_build_info") {
      state.build_info = s.labels;
    } else if (s.name == "suite_request_duration_seconds_bucket" &&
               (s.label("service").empty() || s.label("service") == service)) {
      // A scrape is outside data: a bucket without a readable bound is skipped, not fatal.
      const std::string& le = s.label("le");
      char* end = nullptr;
      const double bound =
          le == "+Inf" ? std::numeric_limits<double>::infinity() : std::strtod(le.c_str(), &end);
      if (le == "+Inf" || (!le.empty() && end && *end == '\0'))
        add_buckets(state.latency, {{bound, s.value}});
    } else if (s.name == "suite_request_duration_seconds_count" &&
               (s.label("service").empty() || s.label("service") == service)) {
      state.request_count += s.value;
    }
  }
  return state;
}

service_monitor::service_monitor(std::string host, std::vector<service_endpoint> services)
    : host_(std::move(host)), services_(std::move(services)) {}

service_monitor::~service_monitor() {
  if (sampling_) stop_sampling();
}

suite_snapshot service_monitor::snapshot() const {
  suite_snapshot snapshot;
  for (const auto& service : services_) {
    const auto answer =
        http_fetch(host_, service.port, "GET", "/metrics", std::chrono::milliseconds(2000));
    if (answer.status != 200) continue;
    snapshot[service.name] = read_service_state(service.name, answer.body);
  }
  return snapshot;
}

void service_monitor::start_sampling(std::chrono::milliseconds interval) {
  peak_rss_.clear();
  sampling_ = true;
  sampler_ = std::thread([this, interval] {
    while (sampling_) {
      const auto began = std::chrono::steady_clock::now();
      const auto now = snapshot();
      {
        std::lock_guard lock(peaks_mutex_);
        for (const auto& [name, state] : now) {
          peak_rss_[name] = std::max(peak_rss_[name], state.rss_bytes);
        }
      }
      // Sleep in short steps so that stop_sampling() does not wait a whole interval.
      while (sampling_ && std::chrono::steady_clock::now() - began < interval) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
  });
}

std::map<std::string, double> service_monitor::stop_sampling() {
  sampling_ = false;
  if (sampler_.joinable()) sampler_.join();
  std::lock_guard lock(peaks_mutex_);
  return peak_rss_;
}

}  // namespace loadgen
