#include "loadgen/latency_histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace loadgen {

namespace {
constexpr std::uint64_t largest_trackable =
    (std::uint64_t{1} << latency_histogram::max_value_bits) - 1;
}

// Bucket index: shift = how far the value must move right to fit in 8 bits; the
// index is shift * 128 plus the top 8 bits, which keeps indexes contiguous and
// monotonic (values < 256 map to themselves).
std::size_t latency_histogram::index_of(std::uint64_t ns) noexcept {
  ns = std::min(ns, largest_trackable);
  const int width = static_cast<int>(std::bit_width(ns));
  const int shift = std::max(0, width - (sub_bucket_bits + 1));
  return static_cast<std::size_t>(shift) * sub_bucket_count + (ns >> shift);
}

std::uint64_t latency_histogram::lowest_in_bucket(std::size_t index) noexcept {
  if (index < 2 * sub_bucket_count) return index;
  const std::size_t shift = index / sub_bucket_count - 1;
  const std::uint64_t top = index - shift * sub_bucket_count;  // in [128, 255]
  return top << shift;
}

std::uint64_t latency_histogram::width_of_bucket(std::size_t index) noexcept {
  if (index < 2 * sub_bucket_count) return 1;
  return std::uint64_t{1} << (index / sub_bucket_count - 1);
}

void latency_histogram::record(std::chrono::nanoseconds value) noexcept {
  record_ns(value.count() < 0 ? 0 : static_cast<std::uint64_t>(value.count()));
}

void latency_histogram::record_ns(std::uint64_t ns) noexcept {
  ++counts_[index_of(ns)];
  ++total_;
  min_ = std::min(min_, ns);
  max_ = std::max(max_, ns);
  sum_ += ns;
}

void latency_histogram::add(const latency_histogram& other) noexcept {
  for (std::size_t i = 0; i < bucket_count; ++i) counts_[i] += other.counts_[i];
  total_ += other.total_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  sum_ += other.sum_;
}

void latency_histogram::clear() noexcept { *this = latency_histogram{}; }

double latency_histogram::mean_ns() const noexcept {
  return total_ == 0 ? 0.0 : static_cast<double>(sum_ / total_);
}

std::uint64_t latency_histogram::percentile_ns(double p) const noexcept {
  if (total_ == 0) return 0;
  if (p >= 100.0) return max_;
  const auto rank = std::max<std::uint64_t>(
      1, static_cast<std::uint64_t>(std::ceil(p / 100.0 * static_cast<double>(total_))));
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < bucket_count; ++i) {
    seen += counts_[i];
    if (seen >= rank) {
      // The midpoint halves the worst-case error; clamping keeps the answer inside
      // what was actually recorded.
      const std::uint64_t mid = lowest_in_bucket(i) + width_of_bucket(i) / 2;
      return std::clamp(mid, min_, max_);
    }
  }
  return max_;
}

}  // namespace loadgen
