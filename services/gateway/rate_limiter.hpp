// rate_limiter: per-caller token buckets (429 with Retry-After when empty), shared by
// every io thread of the gateway.
//
// Each caller (a principal, or "ip:<address>" for anonymous requests) has a bucket of
// `burst` tokens refilled at `rate` per second, kept as GCRA: one number, the
// theoretical arrival time (TAT). A request is let through when TAT - now <= burst
// intervals; it then moves TAT on by one interval. The answer when refused is how long
// until a token is back, which becomes Retry-After (whole seconds, at least 1).
//
// Concurrency: callers are split over 64 shards by hash, each a small map behind its
// own mutex, held for one lookup and a few arithmetic operations. Chosen over
// per-thread buckets, which would split one caller's rate over the threads its
// connections land on, and over a lock-free table of atomics, whose hash collisions
// would make two callers share a bucket. Contention is on a shard, not the limiter,
// and a shard is held for well under a microsecond. A shard forgets callers whose
// bucket has refilled completely (forgetting them changes no answer) when it grows past
// a mark: first `sweep_at_callers`, then twice what a sweep left, so a sweep's cost is
// spread over the inserts that led to it.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace suite::gateway {

class rate_limiter {
 public:
  // rate <= 0 turns the limiter off: every request passes.
  rate_limiter(double rate_per_second, double burst);

  struct decision {
    bool allowed = true;
    std::chrono::milliseconds retry_after{0};
  };
  // Reads the clock after taking the shard's lock: a time read before it could be
  // older than one another thread has already stored, and at high rates that skew
  // alone would exceed a small burst.
  decision admit(std::string_view caller);
  decision admit(std::string_view caller, std::chrono::steady_clock::time_point now);

  bool enabled() const { return interval_ns_ > 0; }
  // Callers remembered now (all shards; takes every shard's lock: tests and metrics).
  std::size_t tracked_callers();

  static constexpr std::size_t sweep_at_callers = 4096;

 private:
  struct shard {
    std::mutex mutex;
    struct string_hash {
      using is_transparent = void;
      std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    // caller -> theoretical arrival time; looked up by string_view without a copy
    std::unordered_map<std::string, std::int64_t, string_hash, std::equal_to<>> tat_ns;
    std::size_t next_sweep = sweep_at_callers;
  };
  decision admit_locked(shard& s, std::string_view caller, std::int64_t now_ns);
  shard& shard_of(std::string_view caller);

  std::int64_t interval_ns_ = 0;   // one token's worth of time
  std::int64_t tolerance_ns_ = 0;  // burst tokens' worth of time
  std::array<shard, 64> shards_;
};

}  // namespace suite::gateway
