// loadgen: the command line of the scenario load generator. Parses arguments, applies
// overrides to a scenario and hands over to the library; see loadtest/README.md.
#include <sys/resource.h>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "loadgen/bus_transport.hpp"
#include "loadgen/http_transport.hpp"
#include "loadgen/load_engine.hpp"
#include "loadgen/run_report.hpp"
#include "loadgen/scenario.hpp"
#include "loadgen/scenario_runner.hpp"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr const char* usage_text = R"usage(usage:
  loadgen run SCENARIO [options]     run a scenario (a file, or a name in --scenarios)
      --host H --port P              the gateway (default 127.0.0.1:8080)
      --repeat N                     run N times; report min / median / max
      --short                        a quick version: <= 5 s, counts / 10 (for demos)
      --duration S | --requests N    override how long
      --rate R | --connections N | --users N | --threads N
      --results DIR                  where <scenario>.json and .md go (default results)
      --scenarios DIR                where scenario names are looked up
      --bin-dir DIR                  the suite's binaries (default build/bin)
      --metrics-port-base N          /metrics ports: gateway N, backends N+1..N+4 (9100)
      --git-rev REV                  recorded in the results (default: git rev-parse)
      --transport http|bus           bus: straight to the service over the bus (DEALER)
      --bus SERVICE=ENDPOINT         a backend's bus endpoint (default tcp://127.0.0.1:555x)
      --reference-url http://HOST:PORT
                                     where the scenario's "reference" system listens
                                     (e.g. the nginx scripts/bench starts)
      --header 'Name: value'         send this header with every HTTP request (repeatable),
                                     e.g. --header "X-API-Key: $(cat var/dev-api-key)"
  loadgen check FILE...              validate scenario files
  loadgen compare A.json B.json      two results side by side, with ratios
  loadgen report FILE.json...        the markdown tables of results files
  loadgen summary FILE.json...       one row per results file (the demo's table)
  loadgen url http://HOST:PORT/PATH [-c CONNECTIONS] [-t THREADS] [-d SECONDS]
                                     [--rate R] [--poisson] [--warmup SECONDS]
                                     [--header 'Name: value']...
                                     a plain GET load, like wrk / wrk2
)usage";

int usage(const std::string& problem = {}) {
  if (!problem.empty()) std::cerr << "loadgen: " << problem << "\n";
  std::cerr << usage_text;
  return 2;
}

std::optional<double> number(std::string_view text) {
  double v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || end != text.data() + text.size() || v < 0) return std::nullopt;
  return v;
}

std::chrono::nanoseconds seconds(double s) {
  return std::chrono::nanoseconds(static_cast<std::int64_t>(s * 1e9));
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string current_git_rev() {
  std::string rev;
  if (FILE* pipe = popen("git rev-parse --short HEAD 2>/dev/null", "r")) {
    char line[64] = {};
    if (std::fgets(line, sizeof line, pipe)) rev = line;
    pclose(pipe);
  }
  while (!rev.empty() && (rev.back() == '\n' || rev.back() == '\r')) rev.pop_back();
  return rev.empty() ? "unknown" : rev;
}

// Thousands of connections need thousands of descriptors: take all we may.
void raise_open_file_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

// --short: the same scenario, small enough for a demo.
void shorten(loadgen::scenario& s) {
  auto& plan = s.plan;
  if (plan.duration.count() > 0) {
    plan.duration = std::min<std::chrono::nanoseconds>(plan.duration, 5s);
    plan.warmup_time = std::min<std::chrono::nanoseconds>(plan.warmup_time, 1s);
    plan.ramp = std::min<std::chrono::nanoseconds>(plan.ramp, 1s);
  } else {
    plan.request_count = std::max<std::uint64_t>(1, plan.request_count / 10);
    plan.warmup_requests /= 10;
  }
  for (auto& step : s.setup) step.count = std::max<std::uint64_t>(1, step.count / 10);
  s.hold.idle /= 10;
  s.hold.streams /= 10;
}

int run_command(const std::vector<std::string_view>& args) {
  if (args.empty()) return usage("run needs a scenario");
  loadgen::runner_options options;
  std::string results_dir = "results";
  std::string scenarios_dir = LOADGEN_SCENARIO_DIR;
  std::string transport_name = "http";
  std::map<std::string, std::string> bus_endpoints;
  bool short_run = false;
  std::optional<double> duration, requests, rate, connections, threads;
  for (std::size_t i = 1; i < args.size(); ++i) {
    const std::string_view flag = args[i];
    if (flag == "--short") {
      short_run = true;
      continue;
    }
    if (i + 1 >= args.size()) return usage("missing value for " + std::string(flag));
    const std::string value(args[++i]);
    const auto n = number(value);
    if (flag == "--host")
      options.host = value;
    else if (flag == "--results")
      results_dir = value;
    else if (flag == "--scenarios")
      scenarios_dir = value;
    else if (flag == "--bin-dir")
      options.bin_dir = value;
    else if (flag == "--git-rev")
      options.git_rev = value;
    else if (flag == "--transport")
      transport_name = value;
    else if (flag == "--reference-url") {
      std::string_view url = value;
      const auto colon = url.rfind(':');
      const auto port =
          colon == std::string_view::npos ? std::nullopt : number(url.substr(colon + 1));
      if (!url.starts_with("http://") || !port || *port < 1 || *port > 65535)
        return usage("--reference-url needs http://HOST:PORT, got \"" + value + "\"");
      options.reference_host = std::string(url.substr(7, colon - 7));
      options.reference_port = static_cast<unsigned short>(*port);
    } else if (flag == "--header") {
      std::string name, header_value;
      if (!loadgen::split_header(value, name, header_value))
        return usage("--header needs 'Name: value', got \"" + value + "\"");
      if (const auto problem = loadgen::header_problem(name, header_value); !problem.empty())
        return usage("--header: " + problem);
      options.headers.emplace_back(name, header_value);
    } else if (flag == "--bus") {
      const auto eq = value.find('=');
      if (eq == std::string::npos || eq == 0 || eq + 1 == value.size())
        return usage("--bus needs SERVICE=ENDPOINT, got \"" + value + "\"");
      bus_endpoints[value.substr(0, eq)] = value.substr(eq + 1);
    } else if (!n)
      return usage("bad value for " + std::string(flag) + ": " + value);
    else if (flag == "--port")
      options.port = static_cast<unsigned short>(*n);
    else if (flag == "--metrics-port-base") {
      for (auto& service : options.services) {
        service.port = static_cast<unsigned short>(*n + (service.port - 9100));
      }
    } else if (flag == "--repeat")
      options.repeat = std::max(1, static_cast<int>(*n));
    else if (flag == "--duration")
      duration = n;
    else if (flag == "--requests")
      requests = n;
    else if (flag == "--rate")
      rate = n;
    else if (flag == "--connections" || flag == "--users")
      connections = n;
    else if (flag == "--threads")
      threads = n;
    else
      return usage("unknown option " + std::string(flag));
  }
  if (transport_name != "http" && transport_name != "bus")
    return usage("--transport is http or bus");

  std::string path(args[0]);
  if (!fs::exists(path)) path = (fs::path(scenarios_dir) / (path + ".json")).string();
  auto loaded = loadgen::load_scenario(path);
  if (!loaded.ok) {
    std::cerr << loaded.error << "\n";
    return 2;
  }
  loadgen::scenario& s = loaded.value;
  if (short_run) shorten(s);
  if (duration) {
    s.plan.duration = seconds(*duration);
    s.plan.request_count = 0;
    s.plan.warmup_requests = 0;
  }
  if (requests) {
    s.plan.request_count = static_cast<std::uint64_t>(*requests);
    s.plan.duration = {};
    s.plan.warmup_time = {};
  }
  if (rate) s.plan.rate_per_s = *rate;
  if (connections) s.plan.connections = static_cast<std::size_t>(*connections);
  if (threads) s.plan.threads = static_cast<unsigned>(*threads);
  if (options.git_rev.empty()) options.git_rev = current_git_rev();
  std::unique_ptr<loadgen::bus_transport> bus;
  if (transport_name == "bus") {
    std::string error;
    bus = loadgen::bus_transport::create(
        bus_endpoints, std::chrono::duration_cast<std::chrono::milliseconds>(s.plan.timeout),
        error);
    if (!bus) {
      std::cerr << "loadgen: " << error << "\n";
      return 1;
    }
    options.load_transport = bus.get();
  }

  std::cerr << "loadgen: " << s.name << " (" << s.file << ")\n";
  const loadgen::run_report report = loadgen::run_scenario(s, options);
  fs::create_directories(results_dir);
  const auto base = fs::path(results_dir) / s.name;
  std::ofstream(base.string() + ".json") << report.to_json();
  const std::string markdown = report.to_markdown();
  std::ofstream(base.string() + ".md") << markdown;
  std::cout << markdown << "\n";
  std::cerr << "loadgen: wrote " << base.string() << ".json and .md\n";
  if (report.status == "skipped") {
    std::cerr << "loadgen: skipped " << s.name << ": " << report.message << "\n";
    return 0;
  }
  if (report.status != "ok") {
    std::cerr << "loadgen: " << s.name << " failed: " << report.message << "\n";
    return 1;
  }
  return 0;
}

int check_command(const std::vector<std::string_view>& args) {
  int bad = 0;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const auto loaded = loadgen::load_scenario(std::string(args[i]));
    if (loaded.ok) {
      std::cout << args[i] << ": ok (" << loaded.value.name << ")\n";
    } else {
      std::cout << loaded.error << "\n";
      ++bad;
    }
  }
  return bad == 0 ? 0 : 1;
}

bool read_report_file(std::string_view path, loadgen::run_report& report) {
  const std::string text = read_text(std::string(path));
  if (const auto error = loadgen::read_report(text, report); !error.empty()) {
    std::cerr << path << ": " << error << "\n";
    return false;
  }
  return true;
}

int compare_command(const std::vector<std::string_view>& args) {
  if (args.size() != 2) return usage("compare needs two results files");
  loadgen::run_report a, b;
  if (!read_report_file(args[0], a) || !read_report_file(args[1], b)) return 1;
  std::cout << loadgen::compare_reports(a, b);
  return 0;
}

int report_command(const std::vector<std::string_view>& args) {
  for (const auto path : args) {
    loadgen::run_report report;
    if (!read_report_file(path, report)) return 1;
    std::cout << report.to_markdown() << "\n";
  }
  return 0;
}

int summary_command(const std::vector<std::string_view>& args) {
  std::vector<loadgen::run_report> reports;
  for (const auto path : args) {
    reports.emplace_back();
    if (!read_report_file(path, reports.back())) return 1;
  }
  std::cout << loadgen::summary_table(reports);
  return 0;
}

void print_percentiles(const char* label, const loadgen::latency_histogram& h) {
  std::printf("%-12s", label);
  for (double p : {50.0, 90.0, 95.0, 99.0, 99.9, 100.0})
    std::printf(" %9.3f", static_cast<double>(h.percentile_ns(p)) / 1e6);
  std::printf("\n");
}

int url_command(const std::vector<std::string_view>& args) {
  if (args.empty()) return usage("url needs a URL");
  std::string_view url = args[0];
  if (!url.starts_with("http://")) return usage("only http:// URLs");
  url.remove_prefix(7);
  const auto slash = url.find('/');
  const std::string path(slash == std::string_view::npos ? "/" : url.substr(slash));
  const std::string_view authority = url.substr(0, slash);
  const auto colon = authority.find(':');
  const std::string host(authority.substr(0, colon));
  const auto port = colon == std::string_view::npos ? std::optional<double>(80)
                                                    : number(authority.substr(colon + 1));
  if (!port) return usage("bad port in URL");

  loadgen::load_plan plan;
  plan.duration = 10s;
  plan.allow_errors = true;
  std::string extra_headers;
  for (std::size_t i = 1; i < args.size(); ++i) {
    const std::string_view flag = args[i];
    if (flag == "--poisson") {
      plan.poisson = true;
      continue;
    }
    if (i + 1 >= args.size()) return usage("missing value for " + std::string(flag));
    if (flag == "--header") {
      std::string name, value;
      if (!loadgen::split_header(args[++i], name, value))
        return usage("--header needs 'Name: value'");
      if (const auto problem = loadgen::header_problem(name, value); !problem.empty())
        return usage("--header: " + problem);
      extra_headers += name + ": " + value + "\r\n";
      continue;
    }
    const auto n = number(args[++i]);
    if (!n) return usage("bad value for " + std::string(flag));
    if (flag == "-c")
      plan.connections = static_cast<std::size_t>(*n);
    else if (flag == "-t")
      plan.threads = static_cast<unsigned>(*n);
    else if (flag == "-d")
      plan.duration = seconds(*n);
    else if (flag == "--warmup")
      plan.warmup_time = seconds(*n);
    else if (flag == "--rate") {
      plan.model = loadgen::arrival_model::open;
      plan.rate_per_s = *n;
    } else {
      return usage("unknown option " + std::string(flag));
    }
  }
  loadgen::value_pools pools;
  loadgen::request_spec spec;
  spec.name = "get";
  loadgen::request_template::compile_text(path, pools, spec.target);
  plan.mix.push_back(std::move(spec));
  loadgen::http_transport transport(host, static_cast<unsigned short>(*port), extra_headers);

  rusage before{}, after{};
  getrusage(RUSAGE_SELF, &before);
  const auto result = loadgen::run_load(plan, transport, pools);
  getrusage(RUSAGE_SELF, &after);
  auto cpu = [](const rusage& r) {
    return static_cast<double>(r.ru_utime.tv_sec + r.ru_stime.tv_sec) +
           static_cast<double>(r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
  };
  const double cpu_s = cpu(after) - cpu(before);
  const double n = static_cast<double>(result.total_count());
  std::printf(
      "%.0f requests in %.2f s, %.0f errors: %.1f req/s; loadgen CPU %.2f s = %.2f us/request\n", n,
      result.measured_seconds, static_cast<double>(result.total_errors()),
      n / result.measured_seconds, cpu_s, n > 0 ? cpu_s / n * 1e6 : 0.0);
  std::printf("%-12s %9s %9s %9s %9s %9s %9s\n", "latency ms", "p50", "p90", "p95", "p99", "p99.9",
              "max");
  const bool open = plan.model == loadgen::arrival_model::open;
  print_percentiles(open ? "corrected" : "", result.merged(true));
  if (open) {
    print_percentiles("uncorrected", result.merged(false));
    print_percentiles("send lag", result.schedule_lag);
  }
  for (const auto& e : result.error_samples) std::printf("error: %s\n", e.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  raise_open_file_limit();
  const std::vector<std::string_view> all(argv + 1, argv + argc);
  if (all.empty()) return usage();
  const std::vector<std::string_view> rest(all.begin() + 1, all.end());
  if (all[0] == "run") return run_command(rest);
  if (all[0] == "check") return check_command(rest);
  if (all[0] == "compare") return compare_command(rest);
  if (all[0] == "report") return report_command(rest);
  if (all[0] == "summary") return summary_command(rest);
  if (all[0] == "url") return url_command(rest);
  return usage("unknown command " + std::string(all[0]));
}
