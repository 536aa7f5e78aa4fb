// arrival_schedule: the intended send times of one share of an open-loop run.
//
// The run's total arrival rate R (constant, or Poisson) is split evenly over C shares
// (the load engine gives each worker thread one, and the worker sends each arrival on
// whichever of its connections is idle); share i has its own times, staggered so that
// together they form the whole schedule (constant: exactly one arrival every 1/R
// seconds overall). An optional ramp raises the rate linearly from 0 to R over `ramp`:
// arrivals are drawn in "expected arrival count" space and mapped back to time through
// the ramp's cumulative rate, so a ramp changes when requests are sent, never how many
// per second once ramped.
//
// Pure computation, deterministic for a seed; one instance per share, not thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <random>

namespace loadgen {

class arrival_schedule {
 public:
  arrival_schedule(double rate_per_s, std::chrono::nanoseconds ramp, bool poisson,
                   std::size_t shares, std::size_t share_index, std::uint64_t seed);

  // Offset from the start of the run of this share's next intended send.
  std::chrono::nanoseconds next();

 private:
  double to_seconds(double arrivals) const;

  double rate_;
  double ramp_s_;
  bool poisson_;
  double spacing_;   // expected arrivals between two sends of this share (= C)
  double position_;  // in expected-arrival space
  std::mt19937_64 rng_;
  bool first_ = true;
};

}  // namespace loadgen
