#include "loadgen/latency_histogram.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

using loadgen::latency_histogram;

namespace {

// The exact value at the rank latency_histogram uses for percentile p.
std::uint64_t exact_percentile(const std::vector<std::uint64_t>& sorted, double p) {
  if (p >= 100) return sorted.back();
  const auto rank = std::max<std::uint64_t>(
      1, static_cast<std::uint64_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size()))));
  return sorted[rank - 1];
}

}  // namespace

TEST_CASE("bucket geometry is contiguous, monotonic and at most 1/128 wide") {
  std::size_t previous = 0;
  for (std::uint64_t v = 0; v < (1u << 20); ++v) {
    const std::size_t index = latency_histogram::index_of(v);
    CHECK_UNARY(index == previous || index == previous + 1);
    CHECK(latency_histogram::lowest_in_bucket(index) <= v);
    CHECK(v <
          latency_histogram::lowest_in_bucket(index) + latency_histogram::width_of_bucket(index));
    previous = index;
    if (v >= 256) v += v / 1000;  // sample the large range instead of walking it all
  }
  const std::uint64_t sixty_s = 60'000'000'000;
  const std::size_t index = latency_histogram::index_of(sixty_s);
  CHECK(index < latency_histogram::bucket_count);
  CHECK(latency_histogram::width_of_bucket(index) * 128 <=
        latency_histogram::lowest_in_bucket(index));
}

TEST_CASE("recorded values are recovered within 1 % at every percentile, 1 us to 60 s") {
  std::mt19937_64 rng(42);
  // Log-uniform over 1 us .. 60 s so every decade is exercised.
  std::uniform_real_distribution<double> exponent(std::log(1e3), std::log(60e9));
  latency_histogram h;
  std::vector<std::uint64_t> values;
  for (int i = 0; i < 200'000; ++i) {
    const auto v = static_cast<std::uint64_t>(std::exp(exponent(rng)));
    values.push_back(v);
    h.record_ns(v);
  }
  std::sort(values.begin(), values.end());
  CHECK(h.count() == values.size());
  CHECK(h.min_ns() == values.front());
  CHECK(h.max_ns() == values.back());
  for (double p : {0.1, 1.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.9, 99.99, 100.0}) {
    const double exact = static_cast<double>(exact_percentile(values, p));
    const double got = static_cast<double>(h.percentile_ns(p));
    INFO("p" << p << " exact " << exact << " got " << got);
    CHECK(std::abs(got - exact) <= 0.01 * exact);
  }
}

TEST_CASE("a narrow distribution keeps its percentiles within 1 %") {
  // Latencies around 2 ms with a few 500 ms outliers: the shape of the stall test.
  latency_histogram h;
  std::vector<std::uint64_t> values;
  std::mt19937_64 rng(7);
  std::normal_distribution<double> around(2e6, 1e5);
  for (int i = 0; i < 10'000; ++i) values.push_back(static_cast<std::uint64_t>(around(rng)));
  for (int i = 0; i < 30; ++i) values.push_back(500'000'000 + static_cast<std::uint64_t>(i) * 1000);
  for (auto v : values) h.record_ns(v);
  std::sort(values.begin(), values.end());
  for (double p : {50.0, 90.0, 95.0, 99.0, 99.9, 100.0}) {
    const double exact = static_cast<double>(exact_percentile(values, p));
    CHECK(std::abs(static_cast<double>(h.percentile_ns(p)) - exact) <= 0.01 * exact);
  }
}

TEST_CASE("merging histograms equals recording everything into one") {
  latency_histogram a, b, all;
  for (std::uint64_t v = 1; v < 1'000'000; v = v * 3 + 1) {
    (v % 2 ? a : b).record_ns(v);
    all.record_ns(v);
  }
  a.add(b);
  CHECK(a.count() == all.count());
  CHECK(a.min_ns() == all.min_ns());
  CHECK(a.max_ns() == all.max_ns());
  for (double p : {1.0, 50.0, 90.0, 99.0, 100.0}) CHECK(a.percentile_ns(p) == all.percentile_ns(p));
}

TEST_CASE("an empty histogram reports zeros; huge values are clamped, not lost") {
  latency_histogram h;
  CHECK(h.percentile_ns(50) == 0);
  CHECK(h.max_ns() == 0);
  h.record_ns(UINT64_MAX / 2);
  CHECK(h.count() == 1);
  CHECK(h.percentile_ns(100) == UINT64_MAX / 2);
}
