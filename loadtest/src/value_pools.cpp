#include "loadgen/value_pools.hpp"

#include <random>

namespace loadgen {

std::size_t value_pools::pool_index(std::string_view name) {
  for (std::size_t i = 0; i < names_.size(); ++i) {
    if (names_[i] == name) return i;
  }
  names_.emplace_back(name);
  values_.emplace_back();
  added_.push_back(0);
  last_pick_.push_back(static_cast<std::size_t>(-1));
  return names_.size() - 1;
}

void value_pools::add(std::size_t pool, std::string_view text, bool is_string) {
  auto& values = values_[pool];
  const std::size_t n = added_[pool]++;
  if (values.size() < capacity_) {
    values.push_back({std::string(text), is_string});
    return;
  }
  // Oldest first, so that pools filled together stay paired index by index; assigning
  // into an existing slot reuses its string's capacity.
  auto& slot = values[n % capacity_];
  slot.text.assign(text);
  slot.is_string = is_string;
}

const captured_value* value_pools::pick(std::size_t pool, std::mt19937_64& rng) {
  const auto& values = values_[pool];
  if (values.empty()) return nullptr;
  const std::size_t i = std::uniform_int_distribution<std::size_t>(0, values.size() - 1)(rng);
  last_pick_[pool] = i;
  return &values[i];
}

const captured_value* value_pools::pick_paired(std::size_t pool, std::size_t base,
                                               std::mt19937_64& rng) {
  const std::size_t i = last_pick_[base];
  if (i >= values_[pool].size()) return pick(pool, rng);
  last_pick_[pool] = i;
  return &values_[pool][i];
}

}  // namespace loadgen
