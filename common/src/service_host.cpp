#include "suite/service_host.hpp"

#include <signal.h>
#include <unistd.h>

#include <thread>

#include "suite/log.hpp"
#include "suite/start_settings.hpp"

namespace suite {
namespace {

class actor_config : public caf::actor_system_config {
 public:
  actor_config(std::size_t threads, const std::string& policy) {
    set("scheduler.max-threads", threads);
    set("scheduler.policy", caf::atom_from_string(policy));
    // CAF 0.17's work stealing polls an empty queue 100 times, then 500 times more with a
    // 50 µs sleep between polls (~30 ms of waking up every ~100 µs) before it sleeps on a
    // condition variable that a new job wakes. That middle phase is dropped: it burnt
    // three times the service's CPU at 1,000 req/s and its sleeps added to every hop's
    // latency (GET /api/sys/event-ingest/health, 3 interleaved runs: CPU 460-480 ->
    // 155-226 µs per request, p50 0.53-0.69 -> 0.36-0.57 ms, 64-connection req/s 26-35k
    // -> 27-38k).
    if (policy == "stealing") set("work-stealing.moderate-poll-attempts", std::size_t{0});
  }
};

}  // namespace

service_host::service_host(std::string service, std::string default_bus,
                           std::string default_metrics)
    : service_(std::move(service)), started_(std::chrono::steady_clock::now()) {
  wait_for_stop_ = block_stop_signals();  // before any thread starts
  auto cores = std::max(1u, std::thread::hardware_concurrency());
  settings_.add("bus", std::move(default_bus), "ROUTER endpoint this service binds", bus_endpoint())
      .add("metrics", std::move(default_metrics), "host:port serving /metrics", host_port())
      .add("workers", std::to_string(cores), "actor scheduler threads and sync workers",
           integer_in(1, 256))
      // Both sleep when idle (actor_config); stealing keeps a queue per worker and polls
      // briefly before sleeping. In the runs quoted there, sharing's CPU was the same and
      // its p99 worse in all 3 rounds.
      .add("scheduler", "stealing",
           "actor scheduler: stealing (a queue per worker; an idle worker polls briefly, "
           "then sleeps) | sharing (one queue; idle workers sleep)",
           one_of({"stealing", "sharing"}))
      .add("log-level", "info", "debug | info | warn | error",
           one_of({"debug", "info", "warn", "error"}));
}

service_host::~service_host() {
  if (bus_) bus_->stop();
  bus_.reset();
  system_.reset();
}

std::optional<int> service_host::configure(int argc, char** argv) {
  if (auto exit_code = start_settings(settings_, service_, argc, argv)) return exit_code;
  workers_ = static_cast<std::size_t>(settings_.integer("workers"));
  actor_config_ = std::make_unique<actor_config>(workers_, settings_.str("scheduler"));
  system_ = std::make_unique<caf::actor_system>(*actor_config_);
  metrics_ = std::make_unique<suite::metrics>(service_);
  bus_ = std::make_unique<bus_server>(settings_.str("bus"), *metrics_);
  add_sys_ops();
  return std::nullopt;
}

void service_host::route(const std::string& op, const caf::actor& handler) {
  bus_->route(op, handler);
}

void service_host::route_sync(sync_handlers handlers, worker_threads where) {
  std::vector<std::string> ops;
  for (const auto& [op, handler] : handlers) ops.push_back(op);
  auto pool = spawn_sync_workers(*system_, workers_, std::move(handlers), where);
  for (const auto& op : ops) route(op, pool);
}

void service_host::add_sys_ops() {
  sync_handlers sys;
  sys["sys.health"] = [this](const request& req) {
    auto uptime =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    status health = health_check_ ? health_check_() : ok();
    if (!health) return error_reply(req.id, health.error());
    return ok_reply(req.id, pack_value([&](msgpack_packer& p) {
                      p.pack_map(3);
                      pack_string(p, "status");
                      pack_string(p, "ok");
                      pack_string(p, "service");
                      pack_string(p, service_);
                      pack_string(p, "uptime_s");
                      p.pack_double(uptime);
                    }));
  };
  sys["sys.info"] = [this](const request& req) {
    return ok_reply(req.id, pack_value([&](msgpack_packer& p) {
                      p.pack_map(7);
                      pack_string(p, "service");
                      pack_string(p, service_);
                      pack_string(p, "version");
                      pack_string(p, SUITE_VERSION);
                      pack_string(p, "build_type");
                      pack_string(p, SUITE_BUILD_TYPE);
                      pack_string(p, "cpu_model");
                      pack_string(p, cpu_model());
                      pack_string(p, "cores");
                      p.pack_uint32(std::thread::hardware_concurrency());
                      pack_string(p, "pid");
                      p.pack_int64(static_cast<std::int64_t>(::getpid()));
                      pack_string(p, "settings");
                      p.pack_map(static_cast<std::uint32_t>(settings_.options().size()));
                      for (const auto& opt : settings_.options()) {
                        pack_string(p, opt.key);
                        pack_string(p, opt.secret ? "***" : opt.value);
                      }
                    }));
  };
  // sys ops get a worker of their own so health answers even when the service's own
  // workers are saturated.
  auto pool = spawn_sync_workers(*system_, 1, std::move(sys));
  route("sys.health", pool);
  route("sys.info", pool);
}

int service_host::run() {
  if (auto served = metrics_->serve(settings_.str("metrics")); !served) {
    log_error("metrics.failed", {{"error", served.error().message}});
    return 1;
  }
  if (auto bound = bus_->start(); !bound) {
    log_error("bus.failed", {{"error", bound.error().message}});
    return 1;
  }
  auto startup = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  metrics_->set_startup_seconds(startup);
  log_info("ready", {{"bus", settings_.str("bus")},
                     {"metrics", settings_.str("metrics")},
                     {"startup_ms", std::to_string(startup * 1000.0)}});
  int signal = wait_for_stop_();
  log_info("stopping", {{"signal", std::to_string(signal)}});
  bus_->stop();
  return 0;
}

}  // namespace suite
