#include "loadgen/arrival_schedule.hpp"

#include <cmath>

namespace loadgen {

arrival_schedule::arrival_schedule(double rate_per_s, std::chrono::nanoseconds ramp, bool poisson,
                                   std::size_t shares, std::size_t share_index, std::uint64_t seed)
    : rate_(rate_per_s),
      ramp_s_(std::chrono::duration<double>(ramp).count()),
      poisson_(poisson),
      spacing_(static_cast<double>(shares)),
      position_(static_cast<double>(share_index)),
      rng_(seed * 0x9E3779B97F4A7C15ull + share_index) {}

std::chrono::nanoseconds arrival_schedule::next() {
  if (poisson_) {
    // Each share is a Poisson process of rate R/C; their sum is Poisson at R.
    std::exponential_distribution<double> gap(1.0 / spacing_);
    position_ = (first_ ? 0.0 : position_) + gap(rng_);
  } else if (!first_) {
    position_ += spacing_;
  }
  first_ = false;
  return std::chrono::nanoseconds(static_cast<std::int64_t>(to_seconds(position_) * 1e9));
}

// Inverse of the cumulative expected arrivals: R t^2 / (2 ramp) during the ramp,
// then R ramp / 2 + R (t - ramp).
double arrival_schedule::to_seconds(double arrivals) const {
  const double during_ramp = rate_ * ramp_s_ / 2.0;
  if (arrivals < during_ramp) return std::sqrt(2.0 * ramp_s_ * arrivals / rate_);
  return ramp_s_ + (arrivals - during_ramp) / rate_;
}

}  // namespace loadgen
