// ingest_pipeline: the actors that turn ingest requests into durable events.
//
//   bus --bus_job--> preparers (pool of detached actors, one per worker: validate and
//                    encode each event; answer 400/413 at once when nothing is left to
//                    store)
//        --prepared_job--> writer (ONE detached actor: group commit; everything queued
//                    while a WriteBatch is being synced goes into the next one, so N
//                    concurrent batches cost one WAL sync; it replies to each request
//                    only after its events are durable)
//        --publication--> broadcaster (ONE detached actor owning the XPUB socket: frames
//                    [topic "events"][{type: event|session_update|stats, data}]; the
//                    socket drops for a slow subscriber instead of blocking the writer,
//                    and while nobody subscribes the broadcaster packs nothing)
//
// Messages each actor takes:
//   preparer:    bus_job (ops events.ingest, events.batch)
//   writer:      prepared_job; flush_atom (sent to itself to close a group)
//   broadcaster: publication; bus_job (op events.mark: publishes {type: mark, token})
// Built once in main(); the destructor stops the actors. Not copyable.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "event_model.hpp"
#include "event_store.hpp"
#include "pricing_table.hpp"
#include "suite/bus_server.hpp"
#include "suite/metrics.hpp"

namespace event_ingest {

inline constexpr const char* stream_topic = "events";

struct rejected_event {
  std::size_t index = 0;
  std::vector<suite::error_detail> errors;
};

// A request whose events passed validation, on its way to the writer.
struct prepared_job {
  suite::bus_job job;
  bool single = false;  // POST /api/events: a duplicate answers 200, not 201
  std::vector<prepared_event> events;
  std::vector<rejected_event> rejected;
};

// What the broadcaster publishes after one group commit.
struct publication {
  std::vector<std::pair<std::uint64_t, std::string>> events;  // seq, packed event map
  std::vector<session_record> sessions;
  stats_counters stats;
};

struct pipeline_settings {
  std::size_t preparers = 2;
  std::size_t max_batch = 1000;  // events in one batch request; 413 above
  std::string pub_endpoint;      // empty: publish nothing
};

class ingest_pipeline {
 public:
  // Binds the PUB socket (a clear error when the endpoint is taken) and spawns the actors.
  static suite::result<std::unique_ptr<ingest_pipeline>> start(
      caf::actor_system& system, suite::metrics& metrics, std::shared_ptr<event_store> store,
      std::shared_ptr<const pricing_table> prices, pipeline_settings settings);
  ~ingest_pipeline();
  ingest_pipeline(const ingest_pipeline&) = delete;
  ingest_pipeline& operator=(const ingest_pipeline&) = delete;

  // Route events.ingest and events.batch here.
  const caf::actor& entry() const { return preparers_; }
  // Route events.mark here; null when there is no PUB endpoint.
  const caf::actor& publisher() const { return broadcaster_; }

 private:
  ingest_pipeline() = default;
  caf::actor preparers_, writer_, broadcaster_;
};

// The reply body of one request after its commit (exposed for tests).
suite::msgpack_value ingest_reply_body(const prepared_job& job, const batch_outcome& outcome);

}  // namespace event_ingest

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(event_ingest::prepared_job)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(event_ingest::publication)
