// latency_histogram: an HDR-style log-linear histogram of durations in nanoseconds.
//
// Values below 256 ns are counted exactly; above, each power-of-two range is split
// into 128 equal sub-buckets, so a bucket is never wider than 1/128 of its lower
// bound and a reported value (the bucket's midpoint) is within 0.4 % of the recorded
// one. The range reaches 2^40 ns (about 18 minutes); larger values land in the top
// bucket and still count. The exact minimum and maximum are kept apart.
//
// Recording is O(1), costs no allocation and no lock: each worker thread owns its
// histograms and they are merged (add) after the run. Not thread-safe.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>

namespace loadgen {

class latency_histogram {
 public:
  static constexpr int sub_bucket_bits = 7;
  static constexpr std::uint64_t sub_bucket_count = 1u << sub_bucket_bits;  // 128
  static constexpr int max_value_bits = 40;
  static constexpr std::size_t bucket_count =
      (max_value_bits - sub_bucket_bits) * sub_bucket_count + 2 * sub_bucket_count;

  void record(std::chrono::nanoseconds value) noexcept;
  void record_ns(std::uint64_t ns) noexcept;
  void add(const latency_histogram& other) noexcept;
  void clear() noexcept;

  std::uint64_t count() const noexcept { return total_; }
  std::uint64_t min_ns() const noexcept { return total_ == 0 ? 0 : min_; }
  std::uint64_t max_ns() const noexcept { return max_; }
  double mean_ns() const noexcept;

  // The value at percentile p in [0, 100]: the smallest recorded value with at least
  // p % of the samples at or below it (p = 100 gives the exact maximum). 0 when empty.
  std::uint64_t percentile_ns(double p) const noexcept;

  // Bucket geometry, public for tests and for reading back serialized histograms.
  static std::size_t index_of(std::uint64_t ns) noexcept;
  static std::uint64_t lowest_in_bucket(std::size_t index) noexcept;
  static std::uint64_t width_of_bucket(std::size_t index) noexcept;

 private:
  std::array<std::uint64_t, bucket_count> counts_{};
  std::uint64_t total_ = 0;
  std::uint64_t min_ = UINT64_MAX;
  std::uint64_t max_ = 0;
  long double sum_ = 0;
};

}  // namespace loadgen
