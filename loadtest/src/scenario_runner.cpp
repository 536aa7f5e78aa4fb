#include "loadgen/scenario_runner.hpp"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <optional>
#include <thread>

#include "loadgen/connection_holder.hpp"
#include "loadgen/http_fetch.hpp"
#include "loadgen/http_transport.hpp"
#include "loadgen/load_engine.hpp"

namespace loadgen {

namespace {

constexpr double mb = 1024.0 * 1024.0;

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

std::string describe_load(const load_plan& plan) {
  std::string text;
  if (plan.model == arrival_model::open) {
    char rate[64];
    std::snprintf(rate, sizeof rate, "%g", plan.rate_per_s);
    text = std::string("open loop, ") + (plan.poisson ? "Poisson" : "constant") + " arrivals at " +
           rate + " req/s over " + std::to_string(plan.connections) + " connections";
  } else {
    text = "closed loop, " + std::to_string(plan.connections) + " users";
    if (plan.think_time.count() > 0) {
      text += ", think " + std::to_string(plan.think_time.count() / 1'000'000) + " ms";
    }
  }
  if (plan.duration.count() > 0) {
    text += ", " + std::to_string(plan.duration.count() / 1'000'000'000) + " s";
    if (plan.warmup_time.count() > 0) {
      text += " after " + std::to_string(plan.warmup_time.count() / 1'000'000'000) + " s warm-up";
    }
  } else {
    text += ", " + std::to_string(plan.request_count) + " requests";
    if (plan.warmup_requests > 0) {
      text += " after " + std::to_string(plan.warmup_requests) + " warm-up requests";
    }
  }
  return text + ", " + std::to_string(plan.threads) + " thread(s)";
}

void add_latency(run_report& report, const std::string& base, const latency_histogram& h) {
  report.add(base + ".p50", static_cast<double>(h.percentile_ns(50)) / 1e6);
  report.add(base + ".p90", static_cast<double>(h.percentile_ns(90)) / 1e6);
  report.add(base + ".p95", static_cast<double>(h.percentile_ns(95)) / 1e6);
  report.add(base + ".p99", static_cast<double>(h.percentile_ns(99)) / 1e6);
  report.add(base + ".p999", static_cast<double>(h.percentile_ns(99.9)) / 1e6);
  report.add(base + ".max", static_cast<double>(h.max_ns()) / 1e6);
}

void add_client_figures(run_report& report, const load_plan& plan, const run_result& result) {
  const double seconds = result.measured_seconds > 0 ? result.measured_seconds : NAN;
  const bool batched = std::any_of(plan.mix.begin(), plan.mix.end(),
                                   [](const auto& spec) { return spec.events_per_request > 1; });
  for (const auto& op : result.ops) {
    const std::string base = "ops." + op.name;
    report.add(base + ".count", static_cast<double>(op.count));
    report.add(base + ".errors", static_cast<double>(op.errors));
    report.add(base + ".throughput_per_s", static_cast<double>(op.count) / seconds);
    if (batched) report.add(base + ".events_per_s", static_cast<double>(op.events) / seconds);
    add_latency(report, base + ".latency_ms", *op.corrected);
    if (report.open_loop) add_latency(report, base + ".latency_uncorrected_ms", *op.uncorrected);
  }
  report.add("total.count", static_cast<double>(result.total_count()));
  report.add("total.errors", static_cast<double>(result.total_errors()));
  report.add("total.throughput_per_s", static_cast<double>(result.total_count()) / seconds);
  if (report.open_loop && result.sending_seconds > 0) {
    // How closely the generator kept its schedule: should equal the rate asked for.
    report.add("loadgen.schedule_lag_ms.p50",
               static_cast<double>(result.schedule_lag.percentile_ns(50)) / 1e6);
    report.add("loadgen.schedule_lag_ms.p99",
               static_cast<double>(result.schedule_lag.percentile_ns(99)) / 1e6);
    report.add(
        "total.sent_per_s",
        static_cast<double>(result.total_count() + result.total_errors()) / result.sending_seconds);
  }
  if (batched)
    report.add("total.events_per_s", static_cast<double>(result.total_events()) / seconds);
  add_latency(report, "total.latency_ms", result.merged(true));
  if (report.open_loop) add_latency(report, "total.latency_uncorrected_ms", result.merged(false));
}

// A setup step is a small closed-loop run of one request kind.
run_result run_setup_step(const setup_step& step, const load_plan& main_plan, transport& t,
                          const value_pools& pools) {
  load_plan plan;
  plan.mix.push_back(step.request);
  plan.connections = step.users;
  plan.request_count = step.count;
  plan.timeout = main_plan.timeout;
  plan.seed = main_plan.seed + 7;
  plan.threads = 1;  // so that every capture lands in the pools handed back
  return run_load(plan, t, pools);
}

// The same load plan against the reference system, one GET of its path: the figures
// a well-known server reaches on this machine under this load, in this run.
void measure_reference(run_report& report, const scenario& s, const runner_options& options) {
  value_pools pools;
  load_plan plan = s.plan;
  plan.mix.clear();
  request_spec spec;
  spec.name = "reference";
  request_template::compile_text(s.reference_path, pools, spec.target);
  plan.mix.push_back(std::move(spec));
  plan.allow_errors = true;
  http_transport reference(options.reference_host, options.reference_port);
  const run_result r = run_load(plan, reference, pools);
  const double seconds = r.measured_seconds > 0 ? r.measured_seconds : NAN;
  report.add("reference.count", static_cast<double>(r.total_count()));
  report.add("reference.errors", static_cast<double>(r.total_errors()));
  report.add("reference.throughput_per_s", static_cast<double>(r.total_count()) / seconds);
  add_latency(report, "reference.latency_ms", r.merged(true));
  for (const auto& e : r.error_samples) {
    if (report.errors.size() < 10) report.errors.push_back("reference: " + e);
  }
}

bool only_not_found(const run_result& result) {
  for (const auto& op : result.ops) {
    for (const auto& [status, n] : op.status_counts) {
      if (status != 404 && status != 501 && n > 0 && !(status >= 200 && status < 300)) return false;
    }
  }
  return true;
}

}  // namespace

run_report run_scenario(const scenario& s, const runner_options& options) {
  run_report report;
  report.scenario = s.name;
  report.description = s.description;
  report.git_rev = options.git_rev;
  report.started_at = utc_now();
  report.machine = this_machine();
  report.load = describe_load(s.plan);
  report.open_loop = s.plan.model == arrival_model::open;
  report.reference_name = s.reference_name;
  if (!s.reference_name.empty() && options.reference_port != 0) {
    report.reference_url = "http://" + options.reference_host + ":" +
                           std::to_string(options.reference_port) + s.reference_path;
  }
  auto stop = [&](const std::string& status, const std::string& message) {
    report.status = status;
    report.message = message;
    return report;
  };

  // Landed? A backend that is not built cannot be measured.
  if (std::filesystem::is_directory(options.bin_dir)) {
    for (const auto& service : s.services) {
      if (!std::filesystem::exists(std::filesystem::path(options.bin_dir) / service)) {
        return stop("skipped", "service " + service + " has not landed yet (no " + options.bin_dir +
                                   "/" + service + ")");
      }
    }
  }
  std::string extra_headers;
  for (const auto& list : {s.headers, options.headers}) {
    for (const auto& [name, value] : list) extra_headers += name + ": " + value + "\r\n";
  }
  const auto probe = http_fetch(options.host, options.port, s.probe_method, s.probe_path,
                                std::chrono::milliseconds(5000), {}, extra_headers);
  if (probe.status == 0) {
    return stop("failed", "the suite does not answer on " + options.host + ":" +
                              std::to_string(options.port) + " (" + probe.error +
                              "); start it with scripts/up");
  }
  if (probe.status == 404 || probe.status == 501) {
    return stop("skipped", s.probe_method + " " + s.probe_path + " answered " +
                               std::to_string(probe.status) +
                               ": the service behind it has not landed yet");
  }
  if (probe.status == 503) {
    std::string names;
    for (const auto& service : s.services) names += (names.empty() ? "" : ", ") + service;
    return stop("skipped",
                s.probe_method + " " + s.probe_path + " answered 503: its service is not up (" +
                    (names.empty() ? "a backend" : names) + "); start it with scripts/up");
  }
  if (probe.status == 401 || probe.status == 403) {
    return stop("failed", s.probe_method + " " + s.probe_path + " answered " +
                              std::to_string(probe.status) +
                              ": the gateway wants a key; pass --header 'X-API-Key: KEY' "
                              "(scripts/bench does when var/dev-api-key exists)");
  }

  http_transport http(options.host, options.port, extra_headers);
  transport& load_transport = options.load_transport ? *options.load_transport : http;
  service_monitor monitor(options.host, options.services);
  const suite_snapshot idle = monitor.snapshot();
  for (const auto& [name, state] : idle) {
    report.add("services." + name + ".idle_rss_mb", state.rss_bytes / mb);
    if (state.startup_seconds >= 0) {
      report.add("services." + name + ".startup_ms", state.startup_seconds * 1000);
    }
    const auto binary = std::filesystem::path(options.bin_dir) / name;
    std::error_code ec;
    const auto size = std::filesystem::file_size(binary, ec);
    if (!ec) report.add("services." + name + ".binary_mb", static_cast<double>(size) / mb);
  }

  value_pools pools = s.pools;
  for (const auto& step : s.setup) {
    // Setup always goes over HTTP: it creates state, its speed is not the question.
    auto result = run_setup_step(step, s.plan, http, pools);
    if (result.total_errors() > 0) {
      report.errors = result.error_samples;
      if (only_not_found(result)) {
        return stop("skipped", "setup step " + step.request.name + " answered 404: the route " +
                                   "has not landed yet");
      }
      return stop("failed", "setup step " + step.request.name + " failed");
    }
    pools = std::move(result.pools);
  }

  std::optional<connection_holder> holder;
  if (s.hold.idle + s.hold.streams > 0) {
    const double before = idle.count("gateway") ? idle.at("gateway").rss_bytes : NAN;
    holder.emplace(http.endpoint(), "Host: " + options.host + ":" + std::to_string(options.port) +
                                        "\r\n" + extra_headers);
    const auto held = holder->open(s.hold.idle, s.hold.idle_path, s.hold.streams,
                                   s.hold.stream_path, std::chrono::seconds(60));
    std::this_thread::sleep_for(std::chrono::seconds(1));  // let RSS settle
    const auto with_held = monitor.snapshot();
    const double after = with_held.count("gateway") ? with_held.at("gateway").rss_bytes : NAN;
    report.add("hold.idle_open", static_cast<double>(held.idle_open));
    report.add("hold.streams_open", static_cast<double>(held.streams_open));
    report.add("hold.failed", static_cast<double>(held.failed));
    report.add("hold.gateway_rss_before_mb", before / mb);
    report.add("hold.gateway_rss_held_mb", after / mb);
    const double open = static_cast<double>(held.idle_open + held.streams_open);
    if (open > 0) report.add("hold.kb_per_connection", (after - before) / 1024.0 / open);
  }

  for (int run = 0; run < std::max(1, options.repeat); ++run) {
    const suite_snapshot before = monitor.snapshot();
    monitor.start_sampling(std::chrono::milliseconds(1000));
    const run_result result = run_load(s.plan, load_transport, pools);
    const double cpu = result.cpu_seconds;
    auto peaks = monitor.stop_sampling();
    const suite_snapshot after = monitor.snapshot();
    ++report.runs;

    add_client_figures(report, s.plan, result);
    report.add("loadgen.cpu_s", cpu);
    const double requests = static_cast<double>(result.total_count() + result.warmup_answers);
    if (requests > 0) report.add("loadgen.cpu_us_per_request", cpu / requests * 1e6);
    for (const auto& [name, state] : after) {
      const std::string base = "services." + name;
      double peak = std::max(peaks[name], state.rss_bytes);
      if (before.count(name)) peak = std::max(peak, before.at(name).rss_bytes);
      if (idle.count(name)) peak = std::max(peak, idle.at(name).rss_bytes);
      report.add(base + ".peak_rss_mb", peak / mb);
      report.add(base + ".after_rss_mb", state.rss_bytes / mb);
      if (!before.count(name)) continue;
      const service_state& b = before.at(name);
      report.add(base + ".cpu_s", state.cpu_seconds - b.cpu_seconds);
      // Server-side latency over the run window: the histogram's growth during it
      // (warm-up included: the server cannot tell warm-up requests apart).
      histogram_buckets window = state.latency;
      add_buckets(window, b.latency, -1);
      if (!window.empty() && window.back().second > 0) {
        report.add(base + ".server_requests", window.back().second);
        report.add(base + ".server_latency_ms.p50", histogram_quantile(0.50, window) * 1000);
        report.add(base + ".server_latency_ms.p95", histogram_quantile(0.95, window) * 1000);
        report.add(base + ".server_latency_ms.p99", histogram_quantile(0.99, window) * 1000);
      }
    }
    if (holder) report.add("hold.dropped", static_cast<double>(holder->counts().dropped));
    if (!s.reference_name.empty() && options.reference_port != 0 && !result.stopped_on_error) {
      measure_reference(report, s, options);
    }
    for (const auto& e : result.error_samples) {
      if (report.errors.size() < 10) report.errors.push_back(e);
    }
    if (result.stopped_on_error) {
      return stop("failed", "a request failed and the scenario does not allow errors");
    }
  }
  return report;
}

}  // namespace loadgen
