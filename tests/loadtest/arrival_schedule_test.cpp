#include "loadgen/arrival_schedule.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <vector>

using loadgen::arrival_schedule;
using namespace std::chrono_literals;

namespace {

// All connections' intended send times within [0, horizon), in seconds, sorted.
std::vector<double> arrivals(double rate, std::chrono::nanoseconds ramp, bool poisson,
                             std::size_t connections, double horizon) {
  std::vector<double> all;
  for (std::size_t c = 0; c < connections; ++c) {
    arrival_schedule schedule(rate, ramp, poisson, connections, c, 99);
    for (;;) {
      const double t = std::chrono::duration<double>(schedule.next()).count();
      if (t >= horizon) break;
      all.push_back(t);
    }
  }
  std::sort(all.begin(), all.end());
  return all;
}

}  // namespace

TEST_CASE("constant arrivals over several connections are evenly spaced at the total rate") {
  const auto all = arrivals(1000, 0ns, false, 7, 2.0);
  CHECK(all.size() == 2000);
  for (std::size_t i = 1; i < all.size(); ++i)
    CHECK(all[i] - all[i - 1] == doctest::Approx(0.001).epsilon(1e-6));
}

TEST_CASE("Poisson arrivals have the requested mean rate and exponential gaps") {
  const auto all = arrivals(5000, 0ns, true, 16, 10.0);
  CHECK(std::abs(static_cast<double>(all.size()) - 50'000) <= 0.02 * 50'000);
  // Exponential gaps: the coefficient of variation is 1 (constant spacing would give 0).
  double sum = 0, sum_sq = 0;
  for (std::size_t i = 1; i < all.size(); ++i) {
    const double gap = all[i] - all[i - 1];
    sum += gap;
    sum_sq += gap * gap;
  }
  const double n = static_cast<double>(all.size() - 1);
  const double mean = sum / n;
  const double cv = std::sqrt(sum_sq / n - mean * mean) / mean;
  CHECK(cv == doctest::Approx(1.0).epsilon(0.05));
}

TEST_CASE("a ramp delays the early arrivals but not the rate after it") {
  const auto ramped = arrivals(1000, 2s, false, 4, 6.0);
  // Expected count: half the rate over the ramp, then the full rate: 1000 + 4000.
  CHECK(ramped.size() == 5000);
  const auto in_first_second =
      std::count_if(ramped.begin(), ramped.end(), [](double t) { return t < 1.0; });
  CHECK(in_first_second == 250);  // R t^2 / (2 ramp) at t = 1
  const auto last_second =
      std::count_if(ramped.begin(), ramped.end(), [](double t) { return t >= 5.0; });
  CHECK(last_second == 1000);
}
