// single_flight: "only one loader per key". While a key's load is running, every other
// request for that key joins it as a waiter instead of starting its own; when the load
// ends, complete() hands back all waiters so each gets the same answer.
// Not thread-safe: one owner (one shard actor), which is what makes it race-free.
#pragma once

#include <unordered_map>
#include <utility>
#include <vector>

namespace suite::chat_cache {

template <class Key, class Waiter, class Hash>
class single_flight {
 public:
  // Adds `waiter` to the key's load. Returns true when no load was running: the caller
  // must start one (and later call complete()).
  bool join(const Key& key, Waiter waiter) {
    auto [it, first] = loads_.try_emplace(key);
    it->second.push_back(std::move(waiter));
    return first;
  }

  // Ends the key's load: returns every waiter that joined it, first joiner first.
  std::vector<Waiter> complete(const Key& key) {
    auto it = loads_.find(key);
    if (it == loads_.end()) return {};
    auto waiters = std::move(it->second);
    loads_.erase(it);
    return waiters;
  }

  // The waiters of the key's running load (null when none), e.g. to stream to them.
  std::vector<Waiter>* waiters(const Key& key) {
    auto it = loads_.find(key);
    return it == loads_.end() ? nullptr : &it->second;
  }

  bool loading(const Key& key) const { return loads_.contains(key); }
  std::size_t loads_in_flight() const { return loads_.size(); }

 private:
  std::unordered_map<Key, std::vector<Waiter>, Hash> loads_;
};

}  // namespace suite::chat_cache
