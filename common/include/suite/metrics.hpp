// metrics: the Prometheus families every process of the suite exports (design.md,
// "Metrics every process exports"), served in the text format on the process's own
// metrics port by a thread of its own (metrics_http.hpp).
//
// Hot path: op_metrics::record() takes no lock and allocates nothing: the per-op
// histogram and the (op, status) counters are created before serving starts (statuses
// outside the usual set are created once, on first use, under a cold-path lock).
// Everything else here (construction, add_op, serve) runs at start-up on one thread;
// add_collectable may come later (a component that starts after the metrics are served).
#pragma once

#include <array>
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>

#include "suite/result.hpp"

namespace suite {

class metrics_http;

// Latency buckets from 50 µs to 10 s, about ×2 apart, fine enough for tails.
const prometheus::Histogram::BucketBoundaries& latency_buckets();

// Counters and the latency histogram of one op of one service.
class op_metrics {
 public:
  op_metrics(prometheus::Family<prometheus::Counter>& requests, prometheus::Histogram& duration,
             std::string service, std::string op);
  // Lock-free: one histogram observation and one counter increment.
  void record(int status, double seconds);

 private:
  static constexpr std::array<int, 20> known_statuses{200, 201, 202, 204, 400, 401, 403,
                                                      404, 405, 408, 409, 413, 415, 422,
                                                      429, 500, 502, 503, 504, 0};
  prometheus::Counter& counter_for(int status);

  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Histogram& duration_;
  std::string service_, op_;
  std::array<std::atomic<prometheus::Counter*>, known_statuses.size()> by_status_{};
  std::mutex create_mutex_;  // cold path: first sample of a status
};

class metrics {
 public:
  // Builds the registry with the standard families, the process collector (from
  // /proc/self) and suite_build_info{service,version,compiler,build_type,cpu_model,cores}.
  explicit metrics(std::string service);
  ~metrics();

  const std::string& service() const { return service_; }
  prometheus::Registry& registry() { return *registry_; }
  std::shared_ptr<prometheus::Registry> shared_registry() { return registry_; }

  // Start-up only: makes the per-op series. Ops not added are recorded under op="other".
  void add_op(std::string_view op);
  // Lock-free lookup once start-up is over.
  op_metrics& op(std::string_view op);

  prometheus::Gauge& inflight() { return *inflight_; }
  prometheus::Gauge& bus_queue_depth() { return *queue_depth_; }
  // suite_deadline_dropped_total: work found past its deadline and not done.
  prometheus::Counter& deadline_dropped() { return *deadline_dropped_; }
  // Time from process start to ready to serve, exported as suite_startup_seconds.
  void set_startup_seconds(double seconds) { startup_->Set(seconds); }

  // A collectable read at every scrape, for state a service measures on demand (RocksDB
  // memory, index sizes, connections) rather than on its hot path. Thread-safe; its
  // Collect() is called from the metrics server's thread, so it must be thread-safe too.
  void add_collectable(std::shared_ptr<prometheus::Collectable> collectable);

  // Serves /metrics on `bind` ("host:port"; port 0: any free one) from its own thread.
  status serve(const std::string& bind);
  // The port /metrics is served on (0 before serve()).
  std::uint16_t port() const;
  // The text exposition of everything, as a scrape would see it.
  std::string render() const;

  // Switch used to measure the cost of observing (loadtest): when off, record() on every
  // op_metrics returns at once.
  static void set_recording(bool on);
  static bool recording();

 private:
  std::string service_;
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>* requests_;
  prometheus::Family<prometheus::Histogram>* duration_;
  prometheus::Gauge* inflight_;
  prometheus::Gauge* queue_depth_;
  prometheus::Counter* deadline_dropped_;
  prometheus::Gauge* startup_;
  struct string_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, std::unique_ptr<op_metrics>, string_hash, std::equal_to<>> ops_;
  std::shared_ptr<prometheus::Collectable> process_;
  mutable std::mutex collectables_mutex_;  // cold: add_collectable and scrapes
  std::vector<std::shared_ptr<prometheus::Collectable>> collectables_;
  std::unique_ptr<op_metrics> other_;
  std::unique_ptr<metrics_http> http_;
};

// The machine's CPU model name from /proc/cpuinfo ("unknown" if absent).
std::string cpu_model();

// For a Collectable's Collect(): a gauge family and one of its samples.
prometheus::MetricFamily gauge_family(std::string name, std::string help);
prometheus::ClientMetric gauge_sample(double value,
                                      std::vector<prometheus::ClientMetric::Label> labels = {});

}  // namespace suite
