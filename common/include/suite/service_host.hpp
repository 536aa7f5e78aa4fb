// service_host: the wiring every backend service's main() shares, in one place:
// settings (the common keys plus the service's own, read once and printed), logging,
// metrics on their own port, the CAF actor system, the bus server with the two ops
// every service answers (sys.health, sys.info), and a clean stop on SIGINT/SIGTERM.
//
// Typical main():
//   suite::service_host host("chat-cache", "tcp://0.0.0.0:5552", "0.0.0.0:9102");
//   host.settings().add("llm", "http://127.0.0.1:11434", "LLM base URL");
//   if (auto exit_code = host.configure(argc, argv)) return *exit_code;
//   host.route("chat.get", host.sync_workers({...}));
//   return host.run();
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include <caf/all.hpp>

#include "suite/bus_server.hpp"
#include "suite/config.hpp"
#include "suite/metrics.hpp"
#include "suite/stop_signals.hpp"

namespace suite {

class service_host {
 public:
  service_host(std::string service, std::string default_bus, std::string default_metrics);
  ~service_host();

  const std::string& service() const { return service_; }
  // Declare the service's own settings here, before configure().
  config& settings() { return settings_; }

  // Reads and validates settings, sets up logging, metrics and the actor system.
  // Returns an exit code when the process should end now (--help, or a bad setting).
  std::optional<int> configure(int argc, char** argv);

  caf::actor_system& actors() { return *system_; }
  suite::metrics& metrics() { return *metrics_; }
  std::size_t worker_count() const { return workers_; }

  // Start-up only: route an op to an actor that takes bus_job messages.
  void route(const std::string& op, const caf::actor& handler);
  // Start-up only: route each op of `handlers` to one shared pool of `workers` sync
  // workers (worker_threads::own when the handlers block on disk or the network).
  void route_sync(sync_handlers handlers, worker_threads where = worker_threads::scheduled);

  // Extra health detail: returns an error when the service cannot serve (e.g. its
  // database is down); sys.health then answers 503 with that error.
  void set_health_check(std::function<status()> check) { health_check_ = std::move(check); }

  // Binds the bus and metrics ports, logs "ready", and serves until SIGINT/SIGTERM.
  int run();

 private:
  void add_sys_ops();

  std::string service_;
  config settings_;
  std::chrono::steady_clock::time_point started_;
  std::size_t workers_ = 1;
  std::unique_ptr<caf::actor_system_config> actor_config_;
  std::unique_ptr<caf::actor_system> system_;
  std::unique_ptr<suite::metrics> metrics_;
  std::unique_ptr<bus_server> bus_;
  std::function<status()> health_check_;
  std::function<int()> wait_for_stop_;
};

}  // namespace suite
