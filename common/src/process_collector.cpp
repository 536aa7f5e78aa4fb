#include "process_collector.hpp"

#include <dirent.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

namespace suite {
namespace {

prometheus::MetricFamily single(std::string name, std::string help, prometheus::MetricType type,
                                double value) {
  prometheus::MetricFamily family;
  family.name = std::move(name);
  family.help = std::move(help);
  family.type = type;
  prometheus::ClientMetric metric;
  if (type == prometheus::MetricType::Counter)
    metric.counter.value = value;
  else
    metric.gauge.value = value;
  family.metric.push_back(metric);
  return family;
}

double boot_time_seconds() {
  std::ifstream stat("/proc/stat");
  std::string key;
  double value = 0;
  while (stat >> key) {
    if (key == "btime") {
      stat >> value;
      return value;
    }
    stat.ignore(1 << 16, '\n');
  }
  return 0;
}

int open_fds() {
  int count = 0;
  if (DIR* dir = opendir("/proc/self/fd")) {
    while (auto* entry = readdir(dir)) {
      if (entry->d_name[0] != '.') ++count;
    }
    closedir(dir);
    --count;  // the descriptor opendir itself holds
  }
  return count;
}

}  // namespace

std::vector<prometheus::MetricFamily> process_collector::Collect() const {
  std::ifstream file("/proc/self/stat");
  std::string content((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  // Fields after the command name, which is in parentheses and may contain spaces.
  auto close = content.rfind(')');
  std::istringstream fields(close == std::string::npos ? "" : content.substr(close + 2));
  std::vector<std::string> f;
  for (std::string s; fields >> s;) f.push_back(s);
  // f[0] is field 3 (state): utime=14, stime=15, starttime=22, vsize=23, rss=24.
  auto field = [&](int n) {
    return n - 3 < static_cast<int>(f.size()) ? std::stod(f[n - 3]) : 0.0;
  };
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  using prometheus::MetricType;
  return {
      single("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
             MetricType::Counter, (field(14) + field(15)) / ticks),
      single("process_resident_memory_bytes", "Resident memory size in bytes.", MetricType::Gauge,
             field(24) * page),
      single("process_virtual_memory_bytes", "Virtual memory size in bytes.", MetricType::Gauge,
             field(23)),
      single("process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
             MetricType::Gauge, boot_time_seconds() + field(22) / ticks),
      single("process_open_fds", "Number of open file descriptors.", MetricType::Gauge, open_fds()),
      single("process_max_fds", "Maximum number of open file descriptors.", MetricType::Gauge,
             static_cast<double>(sysconf(_SC_OPEN_MAX))),
  };
}

}  // namespace suite
