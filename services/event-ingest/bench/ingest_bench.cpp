// event-ingest-bench: the anchors.md workload through the real gateway, in a closed
// loop: `clients` threads, each with one keep-alive connection, POST /api/events/batch
// with `batch` events each (unique event_ids, ~300-byte events) until `events` are sent,
// after `warmup` events. Prints the original's table: throughput, latency p50/p95/p99
// per batch request, idle and peak RSS of event-ingest, startup, failed requests.
//
// By default it starts event-ingest and the gateway itself (from --bin-dir, on a fresh
// data directory, default durability); with --port=P it drives an already running
// gateway instead (RSS figures are then not printed; --api-key=K is then the key to
// send, e.g. the one scripts/up writes to var/dev-api-key). The gateway it starts itself
// gets a one-run admin key (gateway --mint-api-key) and no rate limit.
//
//   build/bin/event-ingest-bench [--bin-dir=build/bin] [--events=20000] [--clients=40]
//       [--batch=50] [--warmup=500] [--sync=fsync|os] [--port=P] [--rate=0]
//       [--service-args="--block-cache-mb=4 --memtable-mb=2"] [--db-bench=db_bench|none]
//       [--value-size=393] [--api-key=K]
//
// As the storage reference of the same run, RocksDB's db_bench (Debian's rocksdb-tools)
// writes as many values as events are sent, each as large as a stored event of this
// workload (393 bytes of msgpack: event-ingest-write-bench prints it), from as many
// threads in batches of the same size with the same sync policy, once before and once
// after the workload (--db-bench=none skips it); the ratio to their mean says how close
// to the storage limit the whole path gets (db_bench writes one key per value,
// event-ingest three plus the session and stats records).
//
// --rate=R (batches per second) switches to an open loop: batch i is due at start + i/R
// and its latency is timed from when it was due, not from when a client got to send
// it, so a stall shows in the tail instead of hiding (coordinated omission, as wrk2).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_batch.hpp"

extern char** environ;

namespace {

using steady = std::chrono::steady_clock;

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// One keep-alive HTTP/1.1 connection; enough HTTP for this server's replies. Every
// request carries `api_key` as X-API-Key when it is not empty.
class connection {
 public:
  explicit connection(int port, const std::string& api_key = {})
      : port_(port), key_header_(api_key.empty() ? "" : "X-API-Key: " + api_key + "\r\n") {
    open();
  }
  ~connection() { ::close(fd_); }

  // Returns the status, or 0 on a socket error (the connection is then reopened).
  int request(const std::string& method, const std::string& target, const std::string& body) {
    std::string req = method + " " + target +
                      " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
                      key_header_ + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
                      body;
    if (!send_all(req)) return reopen();
    buffer_.clear();
    std::size_t header_end;
    while ((header_end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (!receive()) return reopen();
    }
    int status = std::atoi(buffer_.c_str() + 9);
    std::size_t length = 0;
    auto cl = buffer_.find("Content-Length: ");
    if (cl == std::string::npos) cl = buffer_.find("content-length: ");
    if (cl != std::string::npos && cl < header_end)
      length = std::strtoul(buffer_.c_str() + cl + 16, nullptr, 10);
    while (buffer_.size() < header_end + 4 + length) {
      if (!receive()) return reopen();
    }
    last_body_ = buffer_.substr(header_end + 4, length);
    return status;
  }
  const std::string& last_body() const { return last_body_; }

 private:
  void open() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port_));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  }
  int reopen() {
    ::close(fd_);
    open();
    return 0;
  }
  bool send_all(const std::string& data) {
    std::size_t sent = 0;
    while (sent < data.size()) {
      auto n = ::send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return false;
      sent += static_cast<std::size_t>(n);
    }
    return true;
  }
  bool receive() {
    char chunk[16384];
    auto n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buffer_.append(chunk, static_cast<std::size_t>(n));
    return true;
  }

  int port_;
  std::string key_header_;
  int fd_ = -1;
  std::string buffer_, last_body_;
};

// What `command` (run by the shell) printed on its standard output, or "" when it could
// not run or exited non-zero.
std::string command_output(const std::string& command) {
  std::string output;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) return "";
  char chunk[512];
  while (auto n = std::fread(chunk, 1, sizeof chunk, pipe)) output.append(chunk, n);
  return ::pclose(pipe) == 0 ? output : "";
}

// Mints a one-run admin key with `gateway --mint-api-key` and writes its keys-file line to
// `keys_file`. Returns the key to send, or "" when the gateway could not mint one.
std::string mint_api_key(const std::string& gateway, const std::string& keys_file) {
  std::string output = command_output(gateway + " --mint-api-key=bench:default:admin");
  auto newline = output.find('\n');
  if (newline == std::string::npos) return "";
  std::ofstream(keys_file) << output.substr(newline + 1);
  return output.substr(0, newline);
}

long rss_kb(pid_t pid, const char* field) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.starts_with(field)) return std::atol(line.c_str() + std::strlen(field));
  }
  return -1;
}

pid_t spawn(const std::string& binary, const std::vector<std::string>& args,
            const std::string& log) {
  std::vector<char*> argv;
  std::string b = binary;
  argv.push_back(b.data());
  std::vector<std::string> copy = args;
  for (auto& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid = -1;
  if (posix_spawn(&pid, binary.c_str(), &actions, nullptr, argv.data(), environ) != 0) {
    std::fprintf(stderr, "cannot start %s\n", binary.c_str());
    std::exit(1);
  }
  posix_spawn_file_actions_destroy(&actions);
  return pid;
}

// CPU seconds (user + system) a process has used so far, from /proc/PID/stat.
double cpu_seconds(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  auto close = text.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream fields(text.substr(close + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14 || i == 15) ticks += std::stod(field);  // utime, stime
  }
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double own_cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) * 1e-6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// Runs db_bench and returns its ops/s for fillrandom (0 when it could not run).
double db_bench_ops(const std::string& binary, long values, int threads, int batch, long value_size,
                    bool sync, const std::string& dir) {
  std::string command = binary + " --benchmarks=fillrandom --db=" + dir +
                        " --num=" + std::to_string((values + threads - 1) / threads) +
                        " --threads=" + std::to_string(threads) +
                        " --batch_size=" + std::to_string(batch) +
                        " --value_size=" + std::to_string(value_size) +
                        " --key_size=16 --sync=" + (sync ? "true" : "false") +
                        " --compression_type=none --write_buffer_size=2097152 2>&1";
  std::fprintf(stderr, "reference: %s\n", command.c_str());
  FILE* out = ::popen(command.c_str(), "r");
  if (!out) return 0;
  double ops = 0;
  char line[1024];
  while (std::fgets(line, sizeof line, out)) {
    // "fillrandom   :      12.345 micros/op 81004 ops/sec ..."
    if (std::strncmp(line, "fillrandom", 10) == 0) {
      const char* at = std::strstr(line, "micros/op");
      if (at) ops = std::strtod(at + 9, nullptr);
    }
  }
  ::pclose(out);
  return ops;
}

double percentile(std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  auto index = static_cast<std::size_t>(p / 100.0 * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(index, sorted.size() - 1)];
}

}  // namespace

int main(int argc, char** argv) {
  auto args = event_ingest::bench::parse_args(argc, argv,
                                              {{"bin-dir", "build/bin"},
                                               {"events", "20000"},
                                               {"clients", "40"},
                                               {"batch", "50"},
                                               {"warmup", "500"},
                                               {"sync", "fsync"},
                                               {"port", ""},
                                               {"rate", "0"},
                                               {"service-args", ""},
                                               {"db-bench", "db_bench"},
                                               {"value-size", "393"},
                                               {"api-key", ""}});
  const long events = std::stol(args["events"]), warmup = std::stol(args["warmup"]);
  const int clients = std::stoi(args["clients"]), batch = std::stoi(args["batch"]);
  const double rate = std::stod(args["rate"]);
  int port = args["port"].empty() ? 0 : std::stoi(args["port"]);
  pid_t service = -1, gateway = -1;
  int service_metrics_port = 0;
  std::string data_dir;
  double startup_ms = 0;
  long idle_rss = -1;
  if (port == 0) {
    port = free_port();
    int bus = free_port(), pub = free_port();
    data_dir = (std::filesystem::temp_directory_path() /
                ("event-ingest-bench-" + std::to_string(::getpid())))
                   .string();
    std::filesystem::remove_all(data_dir);
    const std::string keys_file = data_dir + ".api-keys";
    args["api-key"] = mint_api_key(args["bin-dir"] + "/gateway", keys_file);
    if (args["api-key"].empty()) {
      std::fprintf(stderr, "%s/gateway --mint-api-key failed\n", args["bin-dir"].c_str());
      return 1;
    }
    auto local = [](int p) { return "tcp://127.0.0.1:" + std::to_string(p); };
    gateway = spawn(args["bin-dir"] + "/gateway",
                    {"--http=127.0.0.1:" + std::to_string(port), "--api-keys-file=" + keys_file,
                     "--rate-limit=0", "--metrics=127.0.0.1:" + std::to_string(free_port()),
                     "--backend-event-ingest=" + local(bus), "--sub-event-ingest=" + local(pub),
                     "--log-level=warn"},
                    "/tmp/event-ingest-bench-gateway.log");
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    auto started = steady::now();
    service_metrics_port = free_port();
    std::vector<std::string> service_args{
        "--bus=" + local(bus),
        "--pub=" + local(pub),
        "--metrics=127.0.0.1:" + std::to_string(service_metrics_port),
        "--data-dir=" + data_dir,
        "--sync=" + args["sync"],
        "--log-level=warn"};
    for (std::size_t start = 0; start < args["service-args"].size();) {
      auto end = args["service-args"].find(' ', start);
      if (end == std::string::npos) end = args["service-args"].size();
      if (end > start) service_args.push_back(args["service-args"].substr(start, end - start));
      start = end + 1;
    }
    service = spawn(args["bin-dir"] + "/event-ingest", service_args,
                    "/tmp/event-ingest-bench-service.log");
    connection probe(port, args["api-key"]);
    while (probe.request("GET", "/api/health", "") != 200) {
      if (steady::now() - started > std::chrono::seconds(10)) {
        std::fprintf(stderr,
                     "event-ingest did not come up; see /tmp/event-ingest-bench-service.log\n");
        kill(service, SIGKILL);
        kill(gateway, SIGKILL);
        return 1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    startup_ms = std::chrono::duration<double, std::milli>(steady::now() - started).count();
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    idle_rss = rss_kb(service, "VmRSS:");
  }

  auto run = [&](long total, int tag, std::vector<double>* latencies) {
    std::atomic<long> next{0};
    std::atomic<long> failed{0};
    std::vector<std::vector<double>> per_client(static_cast<std::size_t>(clients));
    std::vector<std::thread> threads;
    long batches = (total + batch - 1) / batch;
    auto start = steady::now();
    for (int c = 0; c < clients; ++c) {
      threads.emplace_back([&, c] {
        connection conn(port, args["api-key"]);
        for (long n; (n = next.fetch_add(1)) < batches;) {
          auto body = event_ingest::bench::make_batch(tag * 1000 + c, n, batch);
          auto t0 = steady::now();
          if (rate > 0 && latencies) {
            auto due = start + std::chrono::duration_cast<steady::duration>(
                                   std::chrono::duration<double>(static_cast<double>(n) / rate));
            std::this_thread::sleep_until(due);
            t0 = due;
          }
          int status = conn.request("POST", "/api/events/batch", body);
          per_client[static_cast<std::size_t>(c)].push_back(
              std::chrono::duration<double, std::milli>(steady::now() - t0).count());
          if (status != 201) ++failed;
        }
      });
    }
    for (auto& t : threads) t.join();
    double seconds = std::chrono::duration<double>(steady::now() - start).count();
    if (latencies) {
      for (auto& v : per_client) latencies->insert(latencies->end(), v.begin(), v.end());
    }
    return std::pair{seconds, failed.load()};
  };

  const long sent = (events + batch - 1) / batch * batch;
  auto reference = [&] {
    if (args["db-bench"] == "none") return 0.0;
    std::string dir = (std::filesystem::temp_directory_path() /
                       ("event-ingest-bench-db_bench-" + std::to_string(::getpid())))
                          .string();
    std::filesystem::remove_all(dir);
    double ops = db_bench_ops(args["db-bench"], sent, clients, batch, std::stol(args["value-size"]),
                              args["sync"] == "fsync", dir);
    std::filesystem::remove_all(dir);
    return ops;
  };
  const double reference_before = reference();

  if (warmup > 0) run(warmup, 1, nullptr);
  std::vector<double> latencies;
  const double service_cpu0 = service > 0 ? cpu_seconds(service) : 0;
  const double gateway_cpu0 = gateway > 0 ? cpu_seconds(gateway) : 0;
  const double client_cpu0 = own_cpu_seconds();
  auto [seconds, failed] = run(events, 2, &latencies);
  const double client_cpu = own_cpu_seconds() - client_cpu0;
  const double service_cpu = service > 0 ? cpu_seconds(service) - service_cpu0 : 0;
  const double gateway_cpu = gateway > 0 ? cpu_seconds(gateway) - gateway_cpu0 : 0;
  double load[3] = {0, 0, 0};
  getloadavg(load, 3);
  std::sort(latencies.begin(), latencies.end());

  std::printf(
      "event-ingest batch ingest: %ld events, %d clients, batches of %d, sync=%s, %s (through the "
      "gateway)\n\n",
      sent, clients, batch, args["sync"].c_str(),
      rate > 0 ? ("open loop at " + args["rate"] + " batches/s").c_str() : "closed loop");
  std::printf("| metric | event-ingest |\n|---|---|\n");
  std::printf("| throughput | %.0f events/s |\n", static_cast<double>(sent) / seconds);
  std::printf(
      "| latency p50 / p95 / p99 / max (per batch request) | %.2f / %.2f / %.2f / %.2f ms |\n",
      percentile(latencies, 50), percentile(latencies, 95), percentile(latencies, 99),
      latencies.back());
  if (service > 0) {
    long peak = rss_kb(service, "VmHWM:");
    std::printf("| idle RSS / peak RSS | %.1f / %.1f MB |\n",
                static_cast<double>(idle_rss) / 1024.0, static_cast<double>(peak) / 1024.0);
    // The same libraries and an empty RocksDB on its defaults, none of event-ingest's code.
    std::string floor = command_output(args["bin-dir"] + "/rss-floor-rocksdb");
    if (auto colon = floor.find(": "); colon != std::string::npos) {
      std::printf("| floor: its libraries + an empty RocksDB (rss-floor-rocksdb) | %s |\n",
                  floor.substr(colon + 2, floor.find('\n') - colon - 2).c_str());
    }
    std::printf("| startup (spawn to first answer through the gateway) | %.0f ms |\n", startup_ms);
  }
  std::printf("| failed requests | %ld |\n", failed);
  const double per_event = 1e6 / static_cast<double>(sent);
  if (service > 0) {
    std::printf(
        "\nCPU per event: event-ingest %.2f us, gateway %.2f us, this client %.2f us (%.2f s "
        "of CPU in %.2f s on %ld cores)\n",
        service_cpu * per_event, gateway_cpu * per_event, client_cpu * per_event,
        service_cpu + gateway_cpu + client_cpu, seconds, sysconf(_SC_NPROCESSORS_ONLN));
  } else {
    std::printf("\nCPU per event: this client %.2f us\n", client_cpu * per_event);
  }
  std::printf("load average during the run: %.2f %.2f %.2f\n", load[0], load[1], load[2]);
  if (service > 0) {
    connection conn(port, args["api-key"]);
    conn.request("GET", "/api/stats", "");
    std::printf("\nstats after the run: %s\n", conn.last_body().c_str());
    // RocksDB's memory as the service reports it (memtables, block cache).
    connection metrics(service_metrics_port);
    if (metrics.request("GET", "/metrics", "") == 200) {
      std::istringstream lines(metrics.last_body());
      for (std::string line; std::getline(lines, line);) {
        if (line.find("rocksdb") != std::string::npos && !line.starts_with("#"))
          std::printf("%s\n", line.c_str());
      }
    }
    kill(service, SIGTERM);
    kill(gateway, SIGTERM);
    waitpid(service, nullptr, 0);
    waitpid(gateway, nullptr, 0);
    std::filesystem::remove_all(data_dir);
    std::filesystem::remove(data_dir + ".api-keys");
  }
  if (args["db-bench"] != "none") {
    double after = reference();
    if (reference_before > 0 && after > 0) {
      double mean = (reference_before + after) / 2;
      std::printf(
          "db_bench: %.0f writes/s before, %.0f after (%s-byte values); event-ingest through the "
          "gateway: %.2f of their mean\n",
          reference_before, after, args["value-size"].c_str(),
          static_cast<double>(sent) / seconds / mean);
    } else {
      std::printf("db_bench did not run (install rocksdb-tools, or pass --db-bench=PATH)\n");
    }
  }
  return failed == 0 ? 0 : 1;
}
