// chat_service: chat-cache's actors and the bus ops they answer.
//
//   chat.chat / chat.generate / chat.completions  (a bus_job each)
//     → a front actor (a stateless pool) reads the request, computes its key and
//       Cache-Control, and sends a shard_lookup to the shard that owns the key
//     → the cache_shard actor (one per shard, sole owner of its wtinylfu_cache and
//       single_flight table) answers a hit at once, or joins/starts the key's one load
//       from the LLM (llm_client, on its own io thread); the load's outcome comes back
//       to the shard as a message, is stored when it is a success, and every waiter is
//       answered with it, each in the format and stream mode it asked for.
//   chat.cache_stats  → read from the metrics (atomics), no shard round trip.
//   chat.cache_clear  → every shard (or the key's shard) removes and counts.
//
// Replies to chat ops are raw bodies ("$http") carrying X-Cache: HIT|MISS and
// X-Cache-Key headers. Upstream errors are answered to every waiter and never cached.
// Thread-safety: start() once at start-up; everything after runs in actors.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <caf/all.hpp>

#include "llm_client.hpp"
#include "suite/metrics.hpp"
#include "wtinylfu_cache.hpp"

namespace suite::chat_cache {

struct chat_service_settings {
  cache_limits limits;  // over all shards; each shard gets its share
  std::size_t shards = 4;
  std::size_t front_workers = 2;
  llm_client_settings llm;
};

// The running service: actors plus the LLM client. Destroy before the actor system.
class chat_service {
 public:
  chat_service(caf::actor_system& system, metrics& metrics, chat_service_settings settings);
  ~chat_service();
  // Fails on bad settings (an LLM URL that cannot be used).
  status start();
  // The actor to route the chat.* ops to.
  caf::actor ops_handler() const { return front_; }
  bool upstream_circuit_open() const;

  struct context;

 private:
  caf::actor_system& system_;
  std::shared_ptr<context> context_;
  caf::actor front_;
};

// Parses a request Cache-Control header: no-cache (skip the lookup, still store),
// no-store (do not store), max-age=N (accept entries at most N s old; an entry this
// request loads lives at most N s; max-age=0 is no-cache).
struct cache_control {
  bool no_cache = false;
  bool no_store = false;
  std::optional<std::chrono::milliseconds> max_age;
};
cache_control parse_cache_control(std::string_view header);

}  // namespace suite::chat_cache
