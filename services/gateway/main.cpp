// gateway: the suite's HTTP front door. Wires settings, the embedded op catalogue,
// metrics and the HTTP server; the logic is in gateway_lib.
#include <map>
#include <thread>

#include "gateway.hpp"
#include "suite/config.hpp"
#include "suite/embedded_schemas.hpp"
#include "suite/log.hpp"
#include "suite/start_settings.hpp"
#include "suite/stop_signals.hpp"

namespace {

// Local-run defaults (design.md, "Default ports"); compose overrides them by env.
const std::map<std::string, std::pair<std::string, std::string>> default_endpoints{
    {"clinic-records", {"tcp://127.0.0.1:5551", ""}},
    {"chat-cache", {"tcp://127.0.0.1:5552", ""}},
    {"event-ingest", {"tcp://127.0.0.1:5553", "tcp://127.0.0.1:5563"}},
    {"rem-store", {"tcp://127.0.0.1:5554", ""}},
};

std::vector<std::string> split_list(const std::string& list) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= list.size()) {
    auto comma = list.find(',', start);
    if (comma == std::string::npos) comma = list.size();
    if (comma > start) out.push_back(list.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  auto started = std::chrono::steady_clock::now();
  auto wait_for_stop = suite::block_stop_signals();
  suite::set_log_service("gateway");
  auto catalogue = suite::op_catalogue::load(suite::embedded_schema_files());
  if (!catalogue) {
    suite::log_error("catalogue.invalid", {{"error", catalogue.error().message}});
    return 2;
  }

  suite::config settings;
  auto cores = std::to_string(std::max(1u, std::thread::hardware_concurrency()));
  settings.add("http", "127.0.0.1:8080", "host:port of the HTTP front door", suite::host_port())
      .add("metrics", "127.0.0.1:9100", "host:port serving /metrics", suite::host_port())
      .add("threads", cores, "HTTP io threads (one io_context each)", suite::integer_in(1, 256))
      .add("timeout-ms", "5000", "deadline of a request on the bus", suite::integer_in(1, 600000))
      .add("idle-timeout-ms", "120000", "close a keep-alive connection idle this long",
           suite::integer_in(100, 86400000))
      .add("body-limit", "1048576", "largest request body in bytes (413 above)",
           suite::integer_in(0, 1 << 30))
      .add("sse-max-clients", "1000", "open SSE streams allowed (503 above)",
           suite::integer_in(0, 1000000))
      .add("sse-heartbeat-ms", "15000", "interval of SSE heartbeat comments",
           suite::integer_in(10, 3600000))
      .add("log-level", "info", "debug | info | warn | error",
           suite::one_of({"debug", "info", "warn", "error"}));
  for (const auto& service : catalogue->services()) {
    auto it = default_endpoints.find(service);
    settings.add("backend-" + service, it == default_endpoints.end() ? "" : it->second.first,
                 "bus endpoints of " + service + " (comma-separated)", suite::bus_endpoint_list());
    settings.add("sub-" + service, it == default_endpoints.end() ? "" : it->second.second,
                 "PUB endpoint of " + service + " for SSE routes (empty: none)");
  }
  if (auto exit_code = suite::start_settings(settings, "gateway", argc, argv)) return *exit_code;

  suite::gateway::gateway_settings gs;
  gs.http_bind = settings.str("http");
  gs.threads = static_cast<std::size_t>(settings.integer("threads"));
  gs.timeout = std::chrono::milliseconds(settings.integer("timeout-ms"));
  gs.idle_timeout = std::chrono::milliseconds(settings.integer("idle-timeout-ms"));
  gs.body_limit = static_cast<std::size_t>(settings.integer("body-limit"));
  gs.sse_max_clients = static_cast<std::size_t>(settings.integer("sse-max-clients"));
  gs.sse_heartbeat = std::chrono::milliseconds(settings.integer("sse-heartbeat-ms"));
  for (const auto& service : catalogue->services()) {
    gs.backends[service] = split_list(settings.str("backend-" + service));
    gs.publishers[service] = settings.str("sub-" + service);
  }

  suite::metrics metrics("gateway");
  if (auto served = metrics.serve(settings.str("metrics")); !served) {
    suite::log_error("metrics.failed", {{"error", served.error().message}});
    return 1;
  }
  suite::gateway::gateway gateway(gs, *catalogue, metrics);
  if (auto up = gateway.start(); !up) {
    suite::log_error("http.failed", {{"error", up.error().message}});
    return 1;
  }
  auto startup = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  metrics.set_startup_seconds(startup);
  suite::log_info("ready",
                  {{"http", gs.http_bind}, {"startup_ms", std::to_string(startup * 1000.0)}});
  int signal = wait_for_stop();
  suite::log_info("stopping", {{"signal", std::to_string(signal)}});
  gateway.stop();
  return 0;
}
