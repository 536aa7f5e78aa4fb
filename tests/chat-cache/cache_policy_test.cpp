// The W-TinyLFU policy of one shard (services/chat-cache/wtinylfu_cache.hpp), its
// frequency sketch, and single-flight: scan resistance, bounds, expiry, removal causes.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>

#include "single_flight.hpp"
#include "wtinylfu_cache.hpp"

using namespace suite::chat_cache;
using namespace std::chrono_literals;

namespace {

struct int_hash {
  std::size_t operator()(int k) const {
    return static_cast<std::size_t>(static_cast<std::uint64_t>(k) * 0x9e3779b97f4a7c15ULL);
  }
};
using test_cache = wtinylfu_cache<int, std::string, int_hash>;
const auto t0 = std::chrono::steady_clock::time_point{} + 1000h;

// Looks `key` up and, on a miss, stores it, as the service does.
bool access(test_cache& cache, int key, std::size_t bytes,
            std::chrono::steady_clock::time_point now = t0) {
  if (cache.get(key, now)) return true;
  cache.put(key, "v" + std::to_string(key), bytes, now);
  return false;
}

}  // namespace

TEST_CASE("a one-off scan does not flush the hot set") {
  cache_limits limits;
  limits.max_bytes = 1000;
  limits.max_entries = 1000;
  test_cache cache(limits);
  // 50 hot keys of 10 bytes (half the budget), each used several times.
  for (int round = 0; round < 5; ++round) {
    for (int k = 0; k < 50; ++k) access(cache, k, 10);
  }
  // A scan of 5,000 distinct keys, each seen once: 50× the budget.
  for (int k = 1000; k < 6000; ++k) access(cache, k, 10);
  int hot_kept = 0;
  for (int k = 0; k < 50; ++k) hot_kept += cache.contains(k) ? 1 : 0;
  CHECK(hot_kept == 50);
  CHECK(cache.bytes() <= limits.max_bytes);
  CHECK(cache.removals()[removal_cause::size] > 4000);
}

TEST_CASE(
    "W-TinyLFU beats LRU's behaviour on a Zipf trace with a scan: the hot keys keep hitting") {
  cache_limits limits;
  limits.max_bytes = 100 * 100;
  limits.max_entries = 100000;
  test_cache cache(limits);
  std::mt19937_64 rng(7);
  // Zipf(0.9) over 2,000 keys by inverse CDF.
  std::vector<double> cdf(2000);
  double sum = 0;
  for (int i = 0; i < 2000; ++i)
    cdf[static_cast<std::size_t>(i)] = (sum += 1.0 / std::pow(i + 1, 0.9));
  std::uniform_real_distribution<double> u(0, sum);
  int hits = 0, lookups = 0, scan_key = 100000;
  for (int i = 0; i < 40000; ++i) {
    bool scanning = i >= 20000 && i < 25000;
    int key =
        scanning ? scan_key++
                 : static_cast<int>(std::lower_bound(cdf.begin(), cdf.end(), u(rng)) - cdf.begin());
    bool hit = access(cache, key, 100);
    if (i >= 25000) {
      hits += hit ? 1 : 0;
      ++lookups;
    }
  }
  // After the scan the hit ratio is that of a warm cache (the top 100 of Zipf(0.9) over
  // 2,000 keys draw ~40% of accesses); a flushed cache would start again near 0.
  CHECK(static_cast<double>(hits) / lookups > 0.30);
}

TEST_CASE("the byte and entry bounds hold under a random workload") {
  cache_limits limits;
  limits.max_bytes = 100000;
  limits.max_entries = 300;
  test_cache cache(limits);
  std::mt19937 rng(42);
  std::uniform_int_distribution<int> key(0, 2000), size(1, 5000), op(0, 9);
  for (int i = 0; i < 50000; ++i) {
    int k = key(rng);
    switch (op(rng)) {
      case 0:
        cache.erase(k);
        break;
      case 1:
        cache.put(k, "x", static_cast<std::size_t>(size(rng)), t0);
        break;  // replaces when present
      default:
        access(cache, k, static_cast<std::size_t>(size(rng)));
        break;
    }
    REQUIRE(cache.bytes() <= limits.max_bytes);
    REQUIRE(cache.size() <= limits.max_entries);
  }
  CHECK(cache.size() > 0);
  CHECK(cache.removals()[removal_cause::replaced] > 0);
  CHECK(cache.removals()[removal_cause::explicit_removal] > 0);
}

TEST_CASE("an entry heavier than the whole budget is refused") {
  cache_limits limits;
  limits.max_bytes = 1000;
  test_cache cache(limits);
  CHECK_FALSE(cache.put(1, "big", 1001, t0));
  CHECK_FALSE(cache.contains(1));
  CHECK(cache.bytes() == 0);
  CHECK(cache.removals()[removal_cause::size] == 1);
  CHECK(cache.put(2, "fits", 900, t0));  // bigger than the window, yet admitted into an empty main
  CHECK(cache.contains(2));
}

TEST_CASE("time-to-live counts from the write, with a per-entry override") {
  cache_limits limits;
  limits.ttl = 10s;
  test_cache cache(limits);
  cache.put(1, "a", 10, t0);
  cache.put(2, "b", 10, t0, entry_expiry{1s, std::nullopt});
  CHECK(cache.get(1, t0 + 9s));
  CHECK_FALSE(cache.get(2, t0 + 1s));
  CHECK_FALSE(cache.get(1, t0 + 10s));  // reads do not extend a TTL
  CHECK(cache.removals()[removal_cause::expired] == 2);
  CHECK(cache.size() == 0);
  CHECK(cache.bytes() == 0);
}

TEST_CASE("time-to-idle counts from the last read; the sweep removes idle entries") {
  cache_limits limits;
  limits.tti = 5s;
  test_cache cache(limits);
  cache.put(1, "a", 10, t0);
  cache.put(2, "b", 10, t0);
  cache.put(3, "c", 10, t0, entry_expiry{std::nullopt, 0ms});  // never idles out
  CHECK(cache.get(1, t0 + 4s));
  CHECK(cache.get(1, t0 + 8s));
  CHECK(cache.expire(t0 + 8s) == 1);  // key 2, idle since t0
  CHECK_FALSE(cache.contains(2));
  CHECK_FALSE(cache.get(1, t0 + 13s));
  CHECK(cache.get(3, t0 + 100s));
}

TEST_CASE("max-age makes an old entry a miss for that caller only") {
  test_cache cache(cache_limits{});
  cache.put(1, "a", 10, t0);
  CHECK_FALSE(cache.get(1, t0 + 30s, 10s));
  CHECK(cache.contains(1));
  CHECK(cache.get(1, t0 + 30s, 60s));
}

TEST_CASE("removal causes reach the listener") {
  int counts[4] = {0, 0, 0, 0};
  cache_limits limits;
  limits.max_bytes = 100;
  test_cache cache(limits, [&](const int&, const std::string&, std::size_t, removal_cause c) {
    ++counts[static_cast<int>(c)];
  });
  cache.put(1, "a", 10, t0);
  cache.put(1, "b", 10, t0);
  CHECK(*cache.get(1, t0) == "b");
  cache.put(2, "c", 10, t0);
  CHECK(cache.erase_if([](const int& k, const std::string&) { return k == 2; }) == 1);
  CHECK(cache.erase(1));
  CHECK_FALSE(cache.erase(1));
  CHECK(counts[static_cast<int>(removal_cause::replaced)] == 1);
  CHECK(counts[static_cast<int>(removal_cause::explicit_removal)] == 2);
}

TEST_CASE("the frequency sketch: one sighting stays in the doorkeeper; aging halves") {
  frequency_sketch sketch(64);
  CHECK(sketch.estimate(42) == 0);
  sketch.record(42);
  CHECK(sketch.estimate(42) == 1);
  for (int i = 0; i < 5; ++i) sketch.record(42);
  CHECK(sketch.estimate(42) == 6);
  for (int i = 0; i < 40; ++i) sketch.record(42);
  CHECK(sketch.estimate(42) <= 16);
  // 640 recordings (10 × width) trigger aging: counters halve, the doorkeeper clears.
  for (std::uint64_t i = 1000; i < 1000 + 640; ++i) sketch.record(i);
  CHECK(sketch.estimate(42) < 10);
}

TEST_CASE("single flight: the first joiner loads, everyone gets the result") {
  single_flight<int, std::string, int_hash> flights;
  CHECK(flights.join(7, "first"));
  CHECK_FALSE(flights.join(7, "second"));
  CHECK_FALSE(flights.join(7, "third"));
  CHECK(flights.join(8, "other key"));
  CHECK(flights.loads_in_flight() == 2);
  auto waiters = flights.complete(7);
  CHECK(waiters == std::vector<std::string>{"first", "second", "third"});
  CHECK_FALSE(flights.loading(7));
  CHECK(flights.join(7, "after"));  // a new load once the first ended
  CHECK(flights.complete(99).empty());
}
