// value_pools: values captured from responses (ids of created patients, events ...)
// for later requests to draw from, by pool name.
//
// Pool names are fixed when the scenario is compiled (pool_index); each worker thread
// owns a copy seeded from the setup steps' captures and adds its own captures to it. A pool keeps
// at most `capacity` values; past that a new value replaces the oldest one, so memory stays
// bounded on long runs.
//
// Pools filled by the same capture (one response's "id" into `visits` and its
// "patient_id" into `visit_patients`) grow in lockstep: the i-th values belong together,
// and pick_paired() draws the partner of the value last picked from another pool, so a
// request can name a visit together with its own patient. Not thread-safe.
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

  void add(std::size_t pool, std::string_view text, bool is_string);
  // A uniformly random value of the pool, or nullptr when it is empty.
  const captured_value* pick(std::size_t pool, std::mt19937_64& rng);
  // The value of `pool` at the index last picked from `base` (its lockstep partner);
  // a random one when nothing was picked from `base` yet or the index is out of range.
  const captured_value* pick_paired(std::size_t pool, std::size_t base, std::mt19937_64& rng);

 private:
  std::size_t capacity_;
  std::vector<std::string> names_;
  std::vector<std::vector<captured_value>> values_;
  std::vector<std::size_t> added_;      // per pool: values ever added (for oldest-first reuse)
  std::vector<std::size_t> last_pick_;  // per pool: index of the last pick, npos if none
};

}  // namespace loadgen
