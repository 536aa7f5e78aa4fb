// wtinylfu_cache: the eviction and admission policy of one chat-cache shard.
//
// W-TinyLFU (Einziger, Friedman, Manes; the policy of Caffeine): a new entry enters a
// small window LRU (1% of the budget). What overflows the window is a candidate for the
// main space, a segmented LRU (probation 20% + protected 80%). When main is full, the
// candidate is admitted only if the frequency sketch says it was used more often than
// the victim it would push out (probation's least recently used); otherwise the
// candidate itself goes. A one-off scan thus churns the window and probation while the
// hot set, promoted to protected by its second hit, stays.
//
// Bounds: total bytes (each entry weighs the bytes its owner declares) and entry count;
// after every call, bytes() <= max_bytes and size() <= max_entries. An entry heavier
// than the whole budget is refused. Expiry: time-to-live from the write and
// time-to-idle from the last read, each with a per-entry override; an expired entry is
// never returned. The caller passes the time to every call (an injectable clock).
// Removals are reported with their cause (size, expired, explicit, replaced) to a
// listener and counted.
//
// Frequency is recorded by get() (every lookup, hit or miss) and by note_access().
// Not thread-safe: one owner (one shard actor).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <optional>
#include <unordered_map>

#include "frequency_sketch.hpp"

namespace suite::chat_cache {

enum class removal_cause { size, expired, explicit_removal, replaced };
inline constexpr const char* removal_cause_names[] = {"size", "expired", "explicit", "replaced"};

struct cache_limits {
  std::size_t max_bytes = 64 << 20;
  std::size_t max_entries = 100000;
  std::chrono::milliseconds ttl{0};  // 0: no time-to-live
  std::chrono::milliseconds tti{0};  // 0: no time-to-idle
  double window_fraction = 0.01;
  double protected_fraction = 0.8;
};

// Per-entry overrides of the cache's ttl / tti (a value of 0 means "none").
struct entry_expiry {
  std::optional<std::chrono::milliseconds> ttl;
  std::optional<std::chrono::milliseconds> tti;
};

struct removal_counts {
  std::uint64_t by_cause[4] = {0, 0, 0, 0};
  std::uint64_t operator[](removal_cause c) const { return by_cause[static_cast<int>(c)]; }
};

template <class Key, class Value, class Hash>
class wtinylfu_cache {
 public:
  using clock = std::chrono::steady_clock;
  using time_point = clock::time_point;
  using removal_listener =
      std::function<void(const Key&, const Value&, std::size_t bytes, removal_cause)>;

  explicit wtinylfu_cache(cache_limits limits, removal_listener on_removal = {})
      : limits_(limits),
        sketch_(std::min<std::size_t>(limits.max_entries, 1024)),
        on_removal_(std::move(on_removal)) {
    window_max_bytes_ = std::max<std::size_t>(
        1,
        static_cast<std::size_t>(static_cast<double>(limits.max_bytes) * limits.window_fraction));
    window_max_entries_ = std::max<std::size_t>(
        1,
        static_cast<std::size_t>(static_cast<double>(limits.max_entries) * limits.window_fraction));
    main_max_bytes_ =
        limits.max_bytes > window_max_bytes_ ? limits.max_bytes - window_max_bytes_ : 0;
    main_max_entries_ =
        limits.max_entries > window_max_entries_ ? limits.max_entries - window_max_entries_ : 0;
    protected_max_bytes_ =
        static_cast<std::size_t>(static_cast<double>(main_max_bytes_) * limits.protected_fraction);
    protected_max_entries_ = static_cast<std::size_t>(static_cast<double>(main_max_entries_) *
                                                      limits.protected_fraction);
  }

  // The value when present and fresh. An entry older than `max_age` (the client's
  // Cache-Control max-age) is a miss for this caller but stays for others.
  std::optional<Value> get(const Key& key, time_point now,
                           std::optional<std::chrono::milliseconds> max_age = {}) {
    std::uint64_t hash = Hash{}(key);
    sketch_.record(hash);
    auto found = index_.find(key);
    if (found == index_.end()) return std::nullopt;
    auto node = found->second;
    if (expired(*node, now)) {
      remove(node, removal_cause::expired);
      return std::nullopt;
    }
    if (max_age && now - node->written > *max_age) return std::nullopt;
    node->accessed = now;
    on_hit(node);
    return node->value;
  }

  // Counts an access without a lookup (a request that bypasses the cache).
  void note_access(const Key& key) { sketch_.record(Hash{}(key)); }

  // Stores (or replaces) the entry. Returns false when it was not kept: heavier than the
  // whole budget, or refused admission right away.
  bool put(const Key& key, Value value, std::size_t bytes, time_point now,
           entry_expiry expiry = {}) {
    if (auto found = index_.find(key); found != index_.end())
      remove(found->second, removal_cause::replaced);
    if (bytes > limits_.max_bytes || limits_.max_entries == 0) {
      ++removals_.by_cause[static_cast<int>(removal_cause::size)];
      if (on_removal_) on_removal_(key, value, bytes, removal_cause::size);
      return false;
    }
    window_.push_front(node_type{key, std::move(value), bytes, Hash{}(key), now, now,
                                 expiry.ttl.value_or(limits_.ttl), expiry.tti.value_or(limits_.tti),
                                 segment::window});
    index_.emplace(key, window_.begin());
    sketch_.ensure_capacity(index_.size());
    window_bytes_ += bytes;
    bytes_ += bytes;
    enforce_bounds();
    return index_.contains(key);
  }

  // Explicit removal. Returns whether the key was present.
  bool erase(const Key& key) {
    auto found = index_.find(key);
    if (found == index_.end()) return false;
    remove(found->second, removal_cause::explicit_removal);
    return true;
  }

  // Removes every entry whose value matches; returns how many.
  template <class Predicate>
  std::size_t erase_if(Predicate&& matches) {
    std::size_t removed = 0;
    for (auto* list : {&window_, &probation_, &protected_}) {
      for (auto it = list->begin(); it != list->end();) {
        auto next = std::next(it);
        if (matches(it->key, it->value)) {
          remove(it, removal_cause::explicit_removal);
          ++removed;
        }
        it = next;
      }
    }
    return removed;
  }

  // Removes every expired entry (a periodic sweep; lookups check expiry themselves).
  std::size_t expire(time_point now) {
    std::size_t removed = 0;
    for (auto* list : {&window_, &probation_, &protected_}) {
      for (auto it = list->begin(); it != list->end();) {
        auto next = std::next(it);
        if (expired(*it, now)) {
          remove(it, removal_cause::expired);
          ++removed;
        }
        it = next;
      }
    }
    return removed;
  }

  bool contains(const Key& key) const { return index_.contains(key); }
  std::size_t size() const { return index_.size(); }
  std::size_t bytes() const { return bytes_; }
  const removal_counts& removals() const { return removals_; }
  const cache_limits& limits() const { return limits_; }
  int frequency(const Key& key) const { return sketch_.estimate(Hash{}(key)); }

 private:
  enum class segment : std::uint8_t { window, probation, protected_segment };
  struct node_type {
    Key key;
    Value value;
    std::size_t bytes;
    std::uint64_t hash;
    time_point written, accessed;
    std::chrono::milliseconds ttl, tti;
    segment where;
  };
  using list_type = std::list<node_type>;
  using iterator = typename list_type::iterator;

  static bool expired(const node_type& n, time_point now) {
    return (n.ttl.count() > 0 && now - n.written >= n.ttl) ||
           (n.tti.count() > 0 && now - n.accessed >= n.tti);
  }

  list_type& list_of(segment s) {
    return s == segment::window ? window_ : s == segment::probation ? probation_ : protected_;
  }
  std::size_t& bytes_of(segment s) {
    return s == segment::window      ? window_bytes_
           : s == segment::probation ? probation_bytes_
                                     : protected_bytes_;
  }

  // Moves `node` to the most-recently-used end of `to`.
  void move_to(iterator node, segment to) {
    bytes_of(node->where) -= node->bytes;
    bytes_of(to) += node->bytes;
    list_of(to).splice(list_of(to).begin(), list_of(node->where), node);
    node->where = to;
  }

  void on_hit(iterator node) {
    switch (node->where) {
      case segment::window:
      case segment::protected_segment:
        move_to(node, node->where);
        break;
      case segment::probation:
        move_to(node, segment::protected_segment);
        // The protected segment's overflow goes back to probation, where it must win again.
        while (!protected_.empty() && (protected_bytes_ > protected_max_bytes_ ||
                                       protected_.size() > protected_max_entries_)) {
          move_to(std::prev(protected_.end()), segment::probation);
        }
        break;
    }
  }

  void remove(iterator node, removal_cause cause) {
    ++removals_.by_cause[static_cast<int>(cause)];
    if (on_removal_) on_removal_(node->key, node->value, node->bytes, cause);
    bytes_of(node->where) -= node->bytes;
    bytes_ -= node->bytes;
    index_.erase(node->key);
    list_of(node->where).erase(node);
  }

  std::size_t main_bytes() const { return probation_bytes_ + protected_bytes_; }
  std::size_t main_entries() const { return probation_.size() + protected_.size(); }

  // The main-space victim: probation's LRU end, or protected's when probation is empty.
  iterator victim() {
    return probation_.empty() ? std::prev(protected_.end()) : std::prev(probation_.end());
  }

  void enforce_bounds() {
    while (!window_.empty() &&
           (window_bytes_ > window_max_bytes_ || window_.size() > window_max_entries_)) {
      auto candidate = std::prev(window_.end());
      // TinyLFU admission: the candidate must be more frequent than each victim it displaces.
      bool admitted = true;
      while (main_bytes() + candidate->bytes > main_max_bytes_ ||
             main_entries() + 1 > main_max_entries_) {
        if (main_entries() == 0 ||
            sketch_.estimate(candidate->hash) <= sketch_.estimate(victim()->hash)) {
          admitted = false;
          break;
        }
        remove(victim(), removal_cause::size);
      }
      if (admitted) {
        move_to(candidate, segment::probation);
      } else {
        remove(candidate, removal_cause::size);
      }
    }
  }

  cache_limits limits_;
  frequency_sketch sketch_;
  removal_listener on_removal_;
  std::size_t window_max_bytes_, window_max_entries_, main_max_bytes_, main_max_entries_;
  std::size_t protected_max_bytes_, protected_max_entries_;
  list_type window_, probation_, protected_;
  std::size_t window_bytes_ = 0, probation_bytes_ = 0, protected_bytes_ = 0, bytes_ = 0;
  std::unordered_map<Key, iterator, Hash> index_;
  removal_counts removals_;
};

}  // namespace suite::chat_cache
