// gateway: the suite's HTTP front door. Wires settings, the embedded op catalogue,
// metrics and the HTTP server; the logic is in gateway_lib.
//
// `gateway --mint-api-key=<principal>:<tenant>:<role,role,...>` makes a new API key
// instead of serving: it prints the plain key on the first line of stdout and its keys
// file line on the second, and exits. Only the line is to be kept on the server.
#include <cstdio>
#include <map>
#include <thread>

#include "gateway.hpp"
#include "suite/api_keys.hpp"
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

std::vector<std::string> split_list(const std::string& list, char separator = ',') {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= list.size()) {
    auto comma = list.find(separator, start);
    if (comma == std::string::npos) comma = list.size();
    if (comma > start) out.push_back(list.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

// --mint-api-key=principal:tenant:roles
int mint_api_key(const std::string& spec) {
  auto colon = spec.find(':'), second = spec.find(':', colon + 1);
  if (colon == std::string::npos || second == std::string::npos) {
    std::fputs("mint-api-key: expected <principal>:<tenant>:<role,role,...>\n", stderr);
    return 2;
  }
  auto minted =
      suite::mint_api_key(spec.substr(0, colon), spec.substr(colon + 1, second - colon - 1),
                          split_list(spec.substr(second + 1)));
  if (!minted) {
    std::fprintf(stderr, "mint-api-key: %s\n", minted.error().message.c_str());
    return 2;
  }
  std::printf("%s\n%s\n", minted->key.c_str(), suite::api_key_line(minted->entry).c_str());
  return 0;
}

suite::config_check positive_number() {
  return [](std::string_view v) -> std::optional<std::string> {
    try {
      std::size_t used = 0;
      double d = std::stod(std::string(v), &used);
      if (used == v.size() && d >= 0 && d <= 1e9) return std::nullopt;
    } catch (const std::exception&) {
    }
    return "expected a number in 0..1e9";
  };
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
      .add("request-timeout-ms", "10000",
           "time a request may take to arrive once begun, headers and body (slow clients "
           "are closed)",
           suite::integer_in(100, 3600000))
      .add("stream-buffer-limit", "1048576",
           "bytes of a streamed reply queued for one slow client before it is cut",
           suite::integer_in(1024, 1 << 30))
      .add("log-level", "info", "debug | info | warn | error",
           suite::one_of({"debug", "info", "warn", "error"}))
      .add("api-keys-file", "",
           "API keys file: one 'key_id salt sha256 principal tenant roles' per line")
      .add("jwt-secret", "", "HS256 secret of bearer tokens, at least 32 bytes (empty: none)",
           suite::any_value(), true)
      .add("anonymous-ingest", "false",
           "development only: requests without a credential may post events",
           suite::one_of({"true", "false"}))
      .add("rate-limit", "1000", "requests per second per principal (0: no limit)",
           positive_number())
      .add("rate-burst", "2000", "requests a principal may send at once", positive_number())
      .add("anonymous-rate-limit", "100",
           "requests per second per client IP without a credential (0: no limit)",
           positive_number())
      .add("anonymous-rate-burst", "200", "requests an anonymous IP may send at once",
           positive_number())
      .add("max-inflight-per-backend", "4096", "requests in flight to one backend (503 above)",
           suite::integer_in(1, 10000000))
      .add("max-connections-per-ip", "20000",
           "open connections from one client IP (0: no cap; refused above)",
           suite::integer_in(0, 10000000))
      .add("mint-api-key", "",
           "print a new API key and its keys file line, then exit: principal:tenant:roles");
  for (const auto& service : catalogue->services()) {
    auto it = default_endpoints.find(service);
    settings.add("backend-" + service, it == default_endpoints.end() ? "" : it->second.first,
                 "bus endpoints of " + service + " (comma-separated)", suite::bus_endpoint_list());
    settings.add("sub-" + service, it == default_endpoints.end() ? "" : it->second.second,
                 "PUB endpoint of " + service + " for SSE routes (empty: none)");
  }
  if (auto exit_code = suite::start_settings(settings, "gateway", argc, argv)) return *exit_code;
  if (!settings.str("mint-api-key").empty()) return mint_api_key(settings.str("mint-api-key"));

  suite::gateway::gateway_settings gs;
  gs.http_bind = settings.str("http");
  gs.threads = static_cast<std::size_t>(settings.integer("threads"));
  gs.timeout = std::chrono::milliseconds(settings.integer("timeout-ms"));
  gs.idle_timeout = std::chrono::milliseconds(settings.integer("idle-timeout-ms"));
  gs.request_timeout = std::chrono::milliseconds(settings.integer("request-timeout-ms"));
  gs.body_limit = static_cast<std::size_t>(settings.integer("body-limit"));
  gs.api_keys_file = settings.str("api-keys-file");
  gs.jwt_secret = settings.str("jwt-secret");
  gs.anonymous_ingest = settings.str("anonymous-ingest") == "true";
  gs.rate_limit = std::stod(settings.str("rate-limit"));
  gs.rate_burst = std::stod(settings.str("rate-burst"));
  gs.anonymous_rate_limit = std::stod(settings.str("anonymous-rate-limit"));
  gs.anonymous_rate_burst = std::stod(settings.str("anonymous-rate-burst"));
  gs.max_inflight_per_backend =
      static_cast<std::size_t>(settings.integer("max-inflight-per-backend"));
  gs.max_connections_per_ip = static_cast<std::size_t>(settings.integer("max-connections-per-ip"));
  gs.sse_max_clients = static_cast<std::size_t>(settings.integer("sse-max-clients"));
  gs.sse_heartbeat = std::chrono::milliseconds(settings.integer("sse-heartbeat-ms"));
  gs.stream_buffer_limit = static_cast<std::size_t>(settings.integer("stream-buffer-limit"));
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
  suite::log_info("auth", {{"api_keys", std::to_string(gateway.api_key_count())},
                           {"bearer_tokens", gs.jwt_secret.empty() ? "off" : "on"},
                           {"anonymous_ingest", gs.anonymous_ingest ? "on" : "off"}});
  if (gs.anonymous_ingest) {
    suite::log_warn(
        "auth.anonymous_ingest_on",
        {{"detail", "requests without a credential may post events: development only"}});
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
