// query_handlers: the read-side ops, answered by a pool of sync workers straight from
// RocksDB (reads see only committed groups, so stats always match the stored events):
//   events.stats   -> {total_events, active_sessions, total_sessions, total_tokens_in,
//                      total_tokens_out, total_cost_usd, duplicates}
//   events.health  -> {status: "ok", uptime, sse_clients}; sse_clients is the gateway's
//                     count of open streams, which it passes as "gateway_sse_clients"
//   events.list    -> {events: [...newest first], next_cursor}
//   sessions.list  -> {sessions: [...by session_id], next_cursor}
//   sessions.get   -> the session with its totals and "events" (its latest `limit`, oldest first);
//   404 if unknown
//   events.replay  -> a streamed reply (bus_server.hpp): the events after seq `after`,
//                     oldest first, in parts {events: [{seq, event}]} of up to 256 events,
//                     the last part adding {last_seq, truncated}; at most `limit` events
//                     (default and most 100000). The gateway uses it to resume an SSE
//                     stream from Last-Event-ID. It stops early when the caller cancels.
// The handlers share the store read-only; thread-safe.
#pragma once

#include <chrono>
#include <memory>

#include "event_store.hpp"
#include "suite/bus_server.hpp"

namespace event_ingest {

// A pool of `workers` actors answering events.replay.
caf::actor spawn_replay_workers(caf::actor_system& system, std::shared_ptr<const event_store> store,
                                std::size_t workers);

suite::sync_handlers make_query_handlers(std::shared_ptr<const event_store> store,
                                         std::chrono::steady_clock::time_point started);

}  // namespace event_ingest
