// frequency_sketch: the TinyLFU frequency estimate behind chat-cache's admission policy.
// A count-min sketch of 4-bit counters (four rows) in front of which sits a doorkeeper
// (a Bloom filter): a key seen once only sets doorkeeper bits, so the one-hit wonders of
// a scan never reach the counters. After `sample_size` recordings every counter is
// halved and the doorkeeper cleared ("aging"), so the sketch follows a changing
// popularity instead of remembering the past forever.
// Not thread-safe: owned by one cache shard (one actor).
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <vector>

namespace suite::chat_cache {

class frequency_sketch {
 public:
  // Sized for about `expected_entries` distinct hot keys; grows with ensure_capacity().
  explicit frequency_sketch(std::size_t expected_entries) { resize(expected_entries); }

  // Grows the sketch when the cache holds more entries than it was sized for (starting
  // small keeps an idle cache small). Growing forgets the counts, as aging would.
  // Four counters per entry, as a sketch sized for the full cache would have.
  void ensure_capacity(std::size_t entries) {
    if (entries * 4 > row_mask_ + 1) resize(entries * 4);
  }

  // Counts one access of the key whose 64-bit hash is `hash`.
  void record(std::uint64_t hash) {
    if (doorkeeper_add(hash)) {
      for (std::size_t row = 0; row < rows; ++row) increment(row, index_of(hash, row));
    }
    if (++samples_ >= sample_size_) age();
  }

  // Estimated number of recent accesses (0..16).
  int estimate(std::uint64_t hash) const {
    int least = 15;
    for (std::size_t row = 0; row < rows; ++row)
      least = std::min(least, counter(row, index_of(hash, row)));
    return least + (doorkeeper_contains(hash) ? 1 : 0);
  }

 private:
  static constexpr std::size_t rows = 4;

  static std::uint64_t mix(std::uint64_t x, std::uint64_t seed) {
    x ^= seed;
    x = (x ^ (x >> 33)) * 0xff51afd7ed558ccdULL;
    x = (x ^ (x >> 33)) * 0xc4ceb9fe1a85ec53ULL;
    return x ^ (x >> 33);
  }
  std::size_t index_of(std::uint64_t hash, std::size_t row) const {
    static constexpr std::uint64_t seeds[rows] = {0x97cb3127ULL, 0xab5e7c3dULL, 0x3c6ef372ULL,
                                                  0xf15f1a2bULL};
    return row * (row_mask_ + 1) + (mix(hash, seeds[row]) & row_mask_);
  }
  int counter(std::size_t /*row*/, std::size_t slot) const {
    return (counters_[slot / 2] >> ((slot % 2) * 4)) & 0xF;
  }
  void increment(std::size_t row, std::size_t slot) {
    if (counter(row, slot) < 15)
      counters_[slot / 2] =
          static_cast<std::uint8_t>(counters_[slot / 2] + (1u << ((slot % 2) * 4)));
  }
  // Returns whether the key was already in the doorkeeper; adds it.
  bool doorkeeper_add(std::uint64_t hash) {
    bool present = doorkeeper_contains(hash);
    for (std::uint64_t bit : doorkeeper_bits(hash)) doorkeeper_[bit / 64] |= (1ULL << (bit % 64));
    return present;
  }
  bool doorkeeper_contains(std::uint64_t hash) const {
    for (std::uint64_t bit : doorkeeper_bits(hash)) {
      if (!(doorkeeper_[bit / 64] & (1ULL << (bit % 64)))) return false;
    }
    return true;
  }
  std::array<std::uint64_t, 2> doorkeeper_bits(std::uint64_t hash) const {
    return {mix(hash, 0x1234567ULL) & doorkeeper_mask_,
            mix(hash, 0x89abcdefULL) & doorkeeper_mask_};
  }
  void resize(std::size_t expected_entries) {
    std::size_t width = std::bit_ceil(std::max<std::size_t>(expected_entries, 64));
    row_mask_ = width - 1;
    counters_.assign(width * rows / 2, 0);  // two 4-bit counters per byte
    doorkeeper_.assign(std::max<std::size_t>(width * 8 / 64, 1), 0);
    doorkeeper_mask_ = doorkeeper_.size() * 64 - 1;
    sample_size_ = width * 10;
    samples_ = 0;
  }

  void age() {
    for (auto& pair : counters_)
      pair = static_cast<std::uint8_t>((pair >> 1) & 0x77);  // halves both nibbles
    std::fill(doorkeeper_.begin(), doorkeeper_.end(), 0);
    samples_ = 0;
  }

  std::vector<std::uint8_t> counters_;
  std::vector<std::uint64_t> doorkeeper_;
  std::size_t row_mask_ = 0;
  std::uint64_t doorkeeper_mask_ = 0;
  std::size_t sample_size_ = 0;
  std::size_t samples_ = 0;
};

}  // namespace suite::chat_cache
