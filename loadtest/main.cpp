// loadgen: the command line. Parses arguments and hands over to the library.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "loadgen/http_transport.hpp"
#include "loadgen/load_engine.hpp"

namespace {

int usage() {
  std::fprintf(
      stderr,
      "usage: loadgen url http://HOST:PORT/PATH [-c CONNECTIONS] [-t THREADS] [-d SECONDS]\n"
      "                  [--rate R [--poisson]] [--warmup SECONDS]\n");
  return 2;
}

void print_run(const loadgen::run_result& result, bool open_loop) {
  const auto all = result.merged(true);
  const auto raw = result.merged(false);
  std::printf("requests %llu  errors %llu  seconds %.3f  req/s %.1f\n",
              static_cast<unsigned long long>(result.total_count()),
              static_cast<unsigned long long>(result.total_errors()), result.measured_seconds,
              result.measured_seconds > 0 ? result.total_count() / result.measured_seconds : 0.0);
  const double ps[] = {50, 90, 95, 99, 99.9, 100};
  std::printf("%-12s %9s %9s %9s %9s %9s %9s\n", "latency ms", "p50", "p90", "p95", "p99", "p99.9",
              "max");
  auto row = [&](const char* label, const loadgen::latency_histogram& h) {
    std::printf("%-12s", label);
    for (double p : ps) std::printf(" %9.3f", h.percentile_ns(p) / 1e6);
    std::printf("\n");
  };
  row(open_loop ? "corrected" : "", all);
  if (open_loop) row("uncorrected", raw);
  for (const auto& e : result.error_samples) std::printf("error: %s\n", e.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string_view> args(argv + 1, argv + argc);
  if (args.size() < 2 || args[0] != "url") return usage();
  std::string_view url = args[1];
  if (!url.starts_with("http://")) return usage();
  url.remove_prefix(7);
  const auto slash = url.find('/');
  const std::string path(slash == std::string_view::npos ? "/" : url.substr(slash));
  const std::string_view authority = url.substr(0, slash);
  const auto colon = authority.find(':');
  const std::string host(authority.substr(0, colon));
  const unsigned short port =
      colon == std::string_view::npos
          ? 80
          : static_cast<unsigned short>(std::stoi(std::string(authority.substr(colon + 1))));

  loadgen::load_plan plan;
  plan.duration = std::chrono::seconds(10);
  for (std::size_t i = 2; i + 1 < args.size(); i += 2) {
    const std::string value(args[i + 1]);
    if (args[i] == "-c")
      plan.connections = std::stoul(value);
    else if (args[i] == "-t")
      plan.threads = static_cast<unsigned>(std::stoul(value));
    else if (args[i] == "-d")
      plan.duration = std::chrono::nanoseconds(static_cast<long long>(std::stod(value) * 1e9));
    else if (args[i] == "--warmup")
      plan.warmup_time = std::chrono::nanoseconds(static_cast<long long>(std::stod(value) * 1e9));
    else if (args[i] == "--rate") {
      plan.model = loadgen::arrival_model::open;
      plan.rate_per_s = std::stod(value);
    } else if (args[i] == "--poisson") {
      plan.poisson = value == "1";
    } else
      return usage();
  }
  loadgen::value_pools pools;
  loadgen::request_spec spec;
  spec.name = "GET " + path;
  loadgen::request_template::compile_text(path, pools, spec.target);
  plan.mix.push_back(std::move(spec));
  plan.allow_errors = true;
  loadgen::http_transport transport(host, port);
  const auto result = loadgen::run_load(plan, transport, pools);
  print_run(result, plan.model == loadgen::arrival_model::open);
  return 0;
}
