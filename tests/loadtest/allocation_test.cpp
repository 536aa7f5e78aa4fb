// The hot path allocates nothing: a run of ten times more requests makes the load
// engine's threads allocate no more than a short one (connections, buffers and
// statistics are set up once per run). Its own executable, because it replaces the
// global operator new to count allocations by thread.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>
#include <thread>

#include "delay_server.hpp"
#include "loadgen/http_transport.hpp"
#include "loadgen/load_engine.hpp"

namespace {

std::atomic<std::thread::id> main_thread{};
std::atomic<std::thread::id> server_thread{};
std::atomic<std::uint64_t> worker_allocations{0};

// Counts allocations made by threads other than the test's own and the server's:
// the load engine's workers.
void count_allocation() {
  const auto self = std::this_thread::get_id();
  if (self != main_thread.load(std::memory_order_relaxed) &&
      self != server_thread.load(std::memory_order_relaxed)) {
    worker_allocations.fetch_add(1, std::memory_order_relaxed);
  }
}

}  // namespace

void* operator new(std::size_t size) {
  count_allocation();
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace {

std::uint64_t allocations_for(std::uint64_t requests, loadgen::arrival_model model,
                              unsigned short port) {
  loadgen::value_pools pools;
  loadgen::load_plan plan;
  loadgen::request_spec spec;
  spec.name = "post";
  spec.method = "POST";
  REQUIRE(loadgen::request_template::compile_text("/things/${uniform:1:1000}", pools, spec.target)
              .empty());
  plan.mix.push_back(std::move(spec));
  plan.model = model;
  plan.rate_per_s = 20'000;
  plan.connections = 8;
  plan.threads = 2;
  plan.request_count = requests;
  loadgen::http_transport transport("127.0.0.1", port);
  worker_allocations = 0;
  const auto result = loadgen::run_load(plan, transport, pools);
  REQUIRE(result.total_count() == requests);
  return worker_allocations.load();
}

}  // namespace

TEST_CASE("allocations of the load engine do not grow with the number of requests") {
  main_thread = std::this_thread::get_id();
  loadgen_test::delay_server server(std::chrono::microseconds(0));
  server_thread = server.thread_id();
  for (const auto model : {loadgen::arrival_model::closed, loadgen::arrival_model::open}) {
    const auto small = allocations_for(1'000, model, server.port());
    const auto large = allocations_for(10'000, model, server.port());
    MESSAGE(std::string(model == loadgen::arrival_model::open ? "open" : "closed")
            << " loop: worker allocations " << small << " for 1,000 requests, " << large
            << " for 10,000");
    // A few may come from first-time growth (a status seen for the first time, Asio's
    // handler caches warming up); none may come per request.
    CHECK(large <= small + 16);
  }
}
