#include "rate_limiter.hpp"

#include <algorithm>
#include <functional>

namespace suite::gateway {

rate_limiter::rate_limiter(double rate_per_second, double burst) {
  if (rate_per_second > 0) {
    interval_ns_ = static_cast<std::int64_t>(1e9 / rate_per_second);
    tolerance_ns_ =
        static_cast<std::int64_t>(std::max(1.0, burst) * static_cast<double>(interval_ns_));
  }
}

rate_limiter::shard& rate_limiter::shard_of(std::string_view caller) {
  return shards_[std::hash<std::string_view>{}(caller) % shards_.size()];
}

rate_limiter::decision rate_limiter::admit(std::string_view caller) {
  if (interval_ns_ <= 0) return {};
  auto& s = shard_of(caller);
  std::lock_guard lock(s.mutex);
  auto now = std::chrono::steady_clock::now().time_since_epoch();
  return admit_locked(s, caller, std::chrono::duration_cast<std::chrono::nanoseconds>(now).count());
}

rate_limiter::decision rate_limiter::admit(std::string_view caller,
                                           std::chrono::steady_clock::time_point now) {
  if (interval_ns_ <= 0) return {};
  auto& s = shard_of(caller);
  std::lock_guard lock(s.mutex);
  return admit_locked(
      s, caller,
      std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count());
}

rate_limiter::decision rate_limiter::admit_locked(shard& s, std::string_view caller,
                                                  std::int64_t now_ns) {
  auto it = s.tat_ns.find(caller);
  if (it == s.tat_ns.end()) {
    if (s.tat_ns.size() >= s.next_sweep) {
      // A caller whose TAT is in the past has a full bucket: forgetting it changes nothing.
      std::erase_if(s.tat_ns, [now_ns](const auto& kv) { return kv.second <= now_ns; });
      s.next_sweep = std::max(sweep_at_callers, 2 * s.tat_ns.size());
    }
    it = s.tat_ns.emplace(std::string(caller), now_ns).first;
  }
  std::int64_t tat = std::max(it->second, now_ns);
  std::int64_t next = tat + interval_ns_;
  if (next - now_ns > tolerance_ns_) {
    auto wait = std::chrono::nanoseconds(next - now_ns - tolerance_ns_);
    return {false, std::chrono::ceil<std::chrono::milliseconds>(wait)};
  }
  it->second = next;
  return {};
}

}  // namespace suite::gateway

namespace suite::gateway {

std::size_t rate_limiter::tracked_callers() {
  std::size_t n = 0;
  for (auto& s : shards_) {
    std::lock_guard lock(s.mutex);
    n += s.tat_ns.size();
  }
  return n;
}

}  // namespace suite::gateway
