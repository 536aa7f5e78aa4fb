#include "loadgen/value_pools.hpp"

namespace loadgen {

std::size_t value_pools::pool_index(std::string_view name) {
  for (std::size_t i = 0; i < names_.size(); ++i) {
    if (names_[i] == name) return i;
  }
  names_.emplace_back(name);
  values_.emplace_back();
  return names_.size() - 1;
}

void value_pools::add(std::size_t pool, std::string_view text, bool is_string,
                      std::mt19937_64& rng) {
  auto& values = values_[pool];
  if (values.size() < capacity_) {
    values.push_back({std::string(text), is_string});
    return;
  }
  // Assigning into an existing slot reuses its string's capacity.
  auto& slot = values[std::uniform_int_distribution<std::size_t>(0, values.size() - 1)(rng)];
  slot.text.assign(text);
  slot.is_string = is_string;
}

const captured_value* value_pools::pick(std::size_t pool, std::mt19937_64& rng) const {
  const auto& values = values_[pool];
  if (values.empty()) return nullptr;
  return &values[std::uniform_int_distribution<std::size_t>(0, values.size() - 1)(rng)];
}

}  // namespace loadgen
