// bus-bench: the cost of one bus hop, DEALER -> ROUTER -> bridge -> CAF actor -> reply,
// over tcp loopback and inproc, with the suite's own bus_client and bus_server.
//   latency: one call in flight at a time (unloaded), p50 / p99 / p99.9
//   throughput: `--inflight` calls kept in flight, messages per second
// Usage: bus-bench [--seconds=5] [--inflight=64]
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <future>
#include <string>
#include <vector>

#include "suite/bus_client.hpp"
#include "suite/bus_server.hpp"
#include "suite/inproc_mailbox.hpp"

using namespace suite;
using steady = std::chrono::steady_clock;

namespace {

class bench_actors : public caf::actor_system_config {
 public:
  explicit bench_actors(const std::string& policy) {
    set("scheduler.max-threads", 1);
    set("scheduler.policy", caf::atom_from_string(policy));
  }
};

request ping() {
  request r;
  r.op = "echo";
  r.principal = "bench";
  return r;
}

double percentile(std::vector<double>& v, double p) {
  std::size_t i =
      std::min(v.size() - 1, static_cast<std::size_t>(p / 100.0 * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<long>(i), v.end());
  return v[i];
}

void run(const std::string& name, const std::string& endpoint, double seconds, int inflight,
         const std::string& policy) {
  bench_actors config(policy);
  caf::actor_system system(config);
  metrics m("bench");
  bus_server server(endpoint, m);
  sync_handlers handlers;
  handlers["echo"] = [](const request& r) { return ok_reply(r.id, r.body); };
  server.route("echo", spawn_sync_workers(system, 1, std::move(handlers)));
  if (!server.start()) {
    std::fprintf(stderr, "cannot bind %s\n", endpoint.c_str());
    return;
  }
  bus_client client;
  client.add_service("bench", {endpoint});
  (void)client.start();
  while (!client.connected("bench")) std::this_thread::sleep_for(std::chrono::milliseconds(5));

  // Warm-up, then one call at a time.
  std::vector<double> latencies;
  auto until = steady::now() + std::chrono::duration<double>(seconds);
  for (int warm = 0; warm < 1000 || steady::now() < until; ++warm) {
    auto done = std::make_shared<std::promise<void>>();
    auto start = steady::now();
    client.call("bench", ping(), [done](reply) { done->set_value(); });
    done->get_future().wait();
    if (warm >= 1000)
      latencies.push_back(std::chrono::duration<double, std::micro>(steady::now() - start).count());
  }

  // Throughput: keep `inflight` calls in flight; each reply sends the next call.
  std::atomic<long> completed{0};
  std::atomic<bool> stop{false};
  std::atomic<int> outstanding{0};
  std::function<void(reply)> again = [&](reply) {
    completed.fetch_add(1, std::memory_order_relaxed);
    if (!stop.load(std::memory_order_relaxed)) {
      client.call("bench", ping(), again);
    } else {
      outstanding.fetch_sub(1);
    }
  };
  auto start = steady::now();
  outstanding = inflight;
  for (int i = 0; i < inflight; ++i) client.call("bench", ping(), again);
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  double elapsed = std::chrono::duration<double>(steady::now() - start).count();
  long count = completed.load();
  while (outstanding.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));

  std::printf("| %-13s | %9.1f | %9.1f | %9.1f | %12.0f |\n", name.c_str(),
              percentile(latencies, 50), percentile(latencies, 99), percentile(latencies, 99.9),
              static_cast<double>(count) / elapsed);
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 5;
  int inflight = 64;
  std::string policy = "stealing";
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--seconds=", 10) == 0)
      seconds = std::atof(argv[i] + 10);
    else if (std::strncmp(argv[i], "--inflight=", 11) == 0)
      inflight = std::atoi(argv[i] + 11);
    else if (std::strncmp(argv[i], "--scheduler=", 12) == 0)
      policy = argv[i] + 12;
    else {
      std::fprintf(
          stderr,
          "usage: bus-bench [--seconds=5] [--inflight=64] [--scheduler=stealing|sharing]\n");
      return 2;
    }
  }
  std::printf(
      "bus round trip (DEALER -> ROUTER -> actor -> reply), %g s per phase, %d in flight for "
      "msgs/s, CAF scheduler: %s\n\n",
      seconds, inflight, policy.c_str());
  std::printf("| transport     | p50 (µs)  | p99 (µs)  | p99.9 (µs)| msgs/s       |\n");
  std::printf("|---------------|-----------|-----------|-----------|--------------|\n");
  run("tcp loopback", "tcp://127.0.0.1:" + std::to_string(35000 + (::getpid() % 20000)), seconds,
      inflight, policy);
  run("inproc", unique_inproc_endpoint("bench"), seconds, inflight, policy);
  return 0;
}
