#include "suite/metrics.hpp"

#include <fstream>
#include <thread>

#include <prometheus/text_serializer.h>

#include "process_collector.hpp"
#include "suite/metrics_http.hpp"

namespace suite {
namespace {

std::atomic<bool> g_recording{true};

std::string compiler_name() {
#if defined(__clang__)
  return std::string("clang-") + __clang_version__;
#elif defined(__GNUC__)
  return "gcc-" + std::to_string(__GNUC__) + "." + std::to_string(__GNUC_MINOR__) + "." +
         std::to_string(__GNUC_PATCHLEVEL__);
#else
  return "unknown";
#endif
}

std::size_t status_slot(int status) {
  switch (status) {
    case 200:
      return 0;
    case 201:
      return 1;
    case 202:
      return 2;
    case 204:
      return 3;
    case 400:
      return 4;
    case 401:
      return 5;
    case 403:
      return 6;
    case 404:
      return 7;
    case 405:
      return 8;
    case 408:
      return 9;
    case 409:
      return 10;
    case 413:
      return 11;
    case 415:
      return 12;
    case 422:
      return 13;
    case 429:
      return 14;
    case 500:
      return 15;
    case 502:
      return 16;
    case 503:
      return 17;
    case 504:
      return 18;
    default:
      return 19;
  }
}

}  // namespace

const prometheus::Histogram::BucketBoundaries& latency_buckets() {
  static const prometheus::Histogram::BucketBoundaries buckets{
      0.00005, 0.0001, 0.0002, 0.0004, 0.0008, 0.0016, 0.0032, 0.0064, 0.0128, 0.0256,
      0.05,    0.1,    0.2,    0.4,    0.8,    1.6,    3.2,    6.4,    10.0};
  return buckets;
}

std::string cpu_model() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);) {
    if (line.starts_with("model name")) {
      auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
    }
  }
  return "unknown";
}

op_metrics::op_metrics(prometheus::Family<prometheus::Counter>& requests,
                       prometheus::Histogram& duration, std::string service, std::string op)
    : requests_(requests), duration_(duration), service_(std::move(service)), op_(std::move(op)) {
  // The statuses every op answers with sooner or later exist from the start, so
  // dashboards see a zero instead of no series.
  counter_for(200);
  counter_for(400);
  counter_for(500);
  counter_for(503);
}

prometheus::Counter& op_metrics::counter_for(int status) {
  auto slot = status_slot(status);
  if (auto* c = by_status_[slot].load(std::memory_order_acquire)) return *c;
  std::lock_guard lock(create_mutex_);
  if (auto* c = by_status_[slot].load(std::memory_order_acquire)) return *c;
  std::string label = slot == known_statuses.size() - 1 ? "other" : std::to_string(status);
  auto* c = &requests_.Add({{"service", service_}, {"op", op_}, {"status", label}});
  by_status_[slot].store(c, std::memory_order_release);
  return *c;
}

void op_metrics::record(int status, double seconds) {
  if (!g_recording.load(std::memory_order_relaxed)) return;
  duration_.Observe(seconds);
  counter_for(status).Increment();
}

metrics::metrics(std::string service)
    : service_(std::move(service)), registry_(std::make_shared<prometheus::Registry>()) {
  requests_ = &prometheus::BuildCounter()
                   .Name("suite_requests_total")
                   .Help("Requests served, by op and HTTP-like status.")
                   .Register(*registry_);
  duration_ = &prometheus::BuildHistogram()
                   .Name("suite_request_duration_seconds")
                   .Help("Time from receiving a request to sending its reply.")
                   .Register(*registry_);
  inflight_ = &prometheus::BuildGauge()
                   .Name("suite_inflight_requests")
                   .Help("Requests received and not yet answered.")
                   .Register(*registry_)
                   .Add({{"service", service_}});
  queue_depth_ = &prometheus::BuildGauge()
                      .Name("suite_bus_queue_depth")
                      .Help("Requests waiting in actor mailboxes (or, in the gateway, on the bus).")
                      .Register(*registry_)
                      .Add({{"service", service_}});
  deadline_dropped_ = &prometheus::BuildCounter()
                           .Name("suite_deadline_dropped_total")
                           .Help(
                               "Requests dropped unserved because their deadline had passed "
                               "(answered 504).")
                           .Register(*registry_)
                           .Add({{"service", service_}});
  startup_ = &prometheus::BuildGauge()
                  .Name("suite_startup_seconds")
                  .Help("Time from process start until it was ready to serve.")
                  .Register(*registry_)
                  .Add({{"service", service_}});
  prometheus::BuildGauge()
      .Name("suite_build_info")
      .Help("Build and machine of this process; always 1.")
      .Register(*registry_)
      .Add({{"service", service_},
            {"version", SUITE_VERSION},
            {"compiler", compiler_name()},
            {"build_type", SUITE_BUILD_TYPE},
            {"cpu_model", cpu_model()},
            {"cores", std::to_string(std::thread::hardware_concurrency())}})
      .Set(1);
  process_ = std::make_shared<process_collector>();
  other_ = std::make_unique<op_metrics>(
      *requests_, duration_->Add({{"service", service_}, {"op", "other"}}, latency_buckets()),
      service_, "other");
}

metrics::~metrics() = default;

void metrics::add_op(std::string_view op) {
  std::string name(op);
  if (ops_.count(name)) return;
  auto& histogram = duration_->Add({{"service", service_}, {"op", name}}, latency_buckets());
  ops_.emplace(name, std::make_unique<op_metrics>(*requests_, histogram, service_, name));
}

op_metrics& metrics::op(std::string_view op) {
  auto it = ops_.find(op);
  return it == ops_.end() ? *other_ : *it->second;
}

void metrics::add_collectable(std::shared_ptr<prometheus::Collectable> collectable) {
  std::lock_guard lock(collectables_mutex_);
  collectables_.push_back(std::move(collectable));
}

prometheus::MetricFamily gauge_family(std::string name, std::string help) {
  prometheus::MetricFamily family;
  family.name = std::move(name);
  family.help = std::move(help);
  family.type = prometheus::MetricType::Gauge;
  return family;
}

prometheus::ClientMetric gauge_sample(double value,
                                      std::vector<prometheus::ClientMetric::Label> labels) {
  prometheus::ClientMetric metric;
  metric.label = std::move(labels);
  metric.gauge.value = value;
  return metric;
}

status metrics::serve(const std::string& bind) {
  auto server = metrics_http::start(bind, [this] { return render(); });
  if (!server) return server.error();
  http_ = std::move(*server);
  return ok();
}

std::uint16_t metrics::port() const { return http_ ? http_->port() : 0; }

std::string metrics::render() const {
  auto families = registry_->Collect();
  for (auto& family : process_->Collect()) families.push_back(std::move(family));
  std::lock_guard lock(collectables_mutex_);
  for (const auto& collectable : collectables_) {
    for (auto& family : collectable->Collect()) families.push_back(std::move(family));
  }
  return prometheus::TextSerializer().Serialize(families);
}

void metrics::set_recording(bool on) { g_recording.store(on); }
bool metrics::recording() { return g_recording.load(); }

}  // namespace suite
