// chat-cache-policy-bench: hit ratio of chat-cache's W-TinyLFU policy against a plain
// LRU with the same byte budget, on the same trace in the same run: Zipf(0.9)
// popularity over `keys` keys whose answers weigh 500..4,000 bytes, with a one-off
// scan of `scan` never-repeated keys in the middle (the cache-busting crawler).
// Usage: chat-cache-policy-bench [accesses=2000000] [keys=100000] [budget_bytes=20000000]
// [scan=200000]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <list>
#include <random>
#include <unordered_map>
#include <vector>

#include "wtinylfu_cache.hpp"

using namespace suite::chat_cache;

namespace {

struct key_hash {
  std::size_t operator()(std::uint64_t k) const {
    return static_cast<std::size_t>(k * 0x9e3779b97f4a7c15ULL);
  }
};

// The baseline: least-recently-used eviction under the same byte budget.
class lru_cache {
 public:
  explicit lru_cache(std::size_t max_bytes) : max_bytes_(max_bytes) {}
  bool get(std::uint64_t key) {
    auto it = index_.find(key);
    if (it == index_.end()) return false;
    order_.splice(order_.begin(), order_, it->second);
    return true;
  }
  void put(std::uint64_t key, std::size_t bytes) {
    if (bytes > max_bytes_) return;
    order_.push_front({key, bytes});
    index_[key] = order_.begin();
    bytes_ += bytes;
    while (bytes_ > max_bytes_) {
      bytes_ -= order_.back().second;
      index_.erase(order_.back().first);
      order_.pop_back();
    }
  }

 private:
  std::size_t max_bytes_, bytes_ = 0;
  std::list<std::pair<std::uint64_t, std::size_t>> order_;
  std::unordered_map<std::uint64_t, std::list<std::pair<std::uint64_t, std::size_t>>::iterator,
                     key_hash>
      index_;
};

}  // namespace

int main(int argc, char** argv) {
  std::size_t accesses = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 2000000;
  std::size_t keys = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 100000;
  std::size_t budget = argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 20000000;
  std::size_t scan = argc > 4 ? std::strtoull(argv[4], nullptr, 10) : 200000;

  std::vector<double> cdf(keys);
  double sum = 0;
  for (std::size_t i = 0; i < keys; ++i)
    cdf[i] = (sum += 1.0 / std::pow(static_cast<double>(i + 1), 0.9));
  std::mt19937_64 rng(2026);
  std::uniform_real_distribution<double> pick(0, sum);
  auto weight = [](std::uint64_t key) { return 500 + (key * 2654435761ULL) % 3501; };

  // The trace: Zipf draws, with the scan inserted at the middle.
  std::vector<std::uint64_t> trace;
  trace.reserve(accesses + scan);
  for (std::size_t i = 0; i < accesses; ++i) {
    if (i == accesses / 2) {
      for (std::size_t s = 0; s < scan; ++s) trace.push_back(1'000'000'000ULL + s);
    }
    trace.push_back(static_cast<std::uint64_t>(std::lower_bound(cdf.begin(), cdf.end(), pick(rng)) -
                                               cdf.begin()));
  }

  cache_limits limits;
  limits.max_bytes = budget;
  limits.max_entries = budget / 500 + 1;
  wtinylfu_cache<std::uint64_t, char, key_hash> tinylfu(limits);
  lru_cache lru(budget);
  auto now = std::chrono::steady_clock::now();
  std::size_t tinylfu_hits = 0, lru_hits = 0, after_hits_tinylfu = 0, after_hits_lru = 0, after = 0;
  std::size_t soon_hits_tinylfu = 0, soon_hits_lru = 0,
              soon = 0;  // the 100,000 accesses right after the scan
  auto started = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < trace.size(); ++i) {
    auto key = trace[i];
    bool hit = tinylfu.get(key, now).has_value();
    if (!hit) tinylfu.put(key, 'x', weight(key), now);
    tinylfu_hits += hit;
    bool lru_hit = lru.get(key);
    if (!lru_hit) lru.put(key, weight(key));
    lru_hits += lru_hit;
    if (i >= accesses / 2 + scan) {
      ++after;
      after_hits_tinylfu += hit;
      after_hits_lru += lru_hit;
      if (after <= 100000) {
        ++soon;
        soon_hits_tinylfu += hit;
        soon_hits_lru += lru_hit;
      }
    }
  }
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  auto pct = [](std::size_t a, std::size_t b) {
    return 100.0 * static_cast<double>(a) / static_cast<double>(b);
  };
  std::printf(
      "trace: %zu Zipf(0.9) accesses over %zu keys + a one-off scan of %zu keys; budget %zu "
      "bytes\n",
      accesses, keys, scan, budget);
  std::printf("%-10s %12s %22s %28s\n", "policy", "hit ratio", "hit ratio after scan",
              "next 100k accesses after scan");
  std::printf("%-10s %11.2f%% %21.2f%% %27.2f%%\n", "W-TinyLFU", pct(tinylfu_hits, trace.size()),
              pct(after_hits_tinylfu, after), pct(soon_hits_tinylfu, soon));
  std::printf("%-10s %11.2f%% %21.2f%% %27.2f%%\n", "LRU", pct(lru_hits, trace.size()),
              pct(after_hits_lru, after), pct(soon_hits_lru, soon));
  std::printf("difference: %+.2f points overall (both policies replayed in %.2f s)\n",
              pct(tinylfu_hits, trace.size()) - pct(lru_hits, trace.size()), seconds);
  return 0;
}
