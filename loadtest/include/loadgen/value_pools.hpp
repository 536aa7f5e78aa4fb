// value_pools: values captured from responses (ids of created patients, events ...)
// for later requests to draw from, by pool name.
//
// Pool names are fixed when the scenario is compiled (pool_index); each worker thread
// owns a copy seeded from the setup steps' captures and adds its own captures to it. A pool keeps
// at most `capacity` values; past that a new value replaces a random old one, so memory stays
// bounded on long runs. Not thread-safe.
#pragma once

#include <cstddef>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace loadgen {

struct captured_value {
  std::string text;  // as it appeared in JSON, without quotes
  bool is_string = false;
};

class value_pools {
 public:
  explicit value_pools(std::size_t capacity = 100'000) : capacity_(capacity) {}

  // The index of the pool named `name`, creating it if needed.
  std::size_t pool_index(std::string_view name);
  std::size_t pool_count() const { return names_.size(); }
  const std::string& name(std::size_t pool) const { return names_[pool]; }
  std::size_t size(std::size_t pool) const { return values_[pool].size(); }

  void add(std::size_t pool, std::string_view text, bool is_string, std::mt19937_64& rng);
  // A uniformly random value of the pool, or nullptr when it is empty.
  const captured_value* pick(std::size_t pool, std::mt19937_64& rng) const;

 private:
  std::size_t capacity_;
  std::vector<std::string> names_;
  std::vector<std::vector<captured_value>> values_;
};

}  // namespace loadgen
