#include "ingest_pipeline.hpp"

#include <zmq.hpp>

#include "suite/inproc_mailbox.hpp"
#include "suite/log.hpp"

namespace event_ingest {
namespace {

using flush_atom = caf::atom_constant<caf::atom("flush")>;

struct pipeline_metrics {
  prometheus::Counter* stored;
  prometheus::Counter* duplicates;
  prometheus::Counter* rejected;
  prometheus::Histogram* group_batches;
  prometheus::Gauge* memtable_bytes;
  prometheus::Gauge* block_cache_bytes;
};

pipeline_metrics make_metrics(suite::metrics& m) {
  auto& registry = m.registry();
  auto& events = prometheus::BuildCounter()
                     .Name("suite_event_ingest_events_total")
                     .Help(
                         "Events received, by outcome: stored, duplicate (event_id seen before), "
                         "rejected (invalid).")
                     .Register(registry);
  auto& groups = prometheus::BuildHistogram()
                     .Name("suite_event_ingest_commit_group_batches")
                     .Help("Requests combined into one WriteBatch and one WAL sync.")
                     .Register(registry);
  auto& memory = prometheus::BuildGauge()
                     .Name("suite_event_ingest_rocksdb_bytes")
                     .Help("RocksDB memory by part: memtables, block cache.")
                     .Register(registry);
  return {
      &events.Add({{"result", "stored"}}),
      &events.Add({{"result", "duplicate"}}),
      &events.Add({{"result", "rejected"}}),
      &groups.Add({}, prometheus::Histogram::BucketBoundaries{1, 2, 4, 8, 16, 32, 64, 128, 256}),
      &memory.Add({{"part", "memtables"}}),
      &memory.Add({{"part", "block_cache"}})};
}

void pack_errors(suite::msgpack_packer& p, const std::vector<suite::error_detail>& errors) {
  p.pack_array(static_cast<std::uint32_t>(errors.size()));
  for (const auto& e : errors) {
    p.pack_map(2);
    suite::pack_string(p, "field");
    suite::pack_string(p, e.field);
    suite::pack_string(p, "message");
    suite::pack_string(p, e.message);
  }
}

// Validates and encodes one request; answers it at once when nothing reaches the writer.
std::optional<prepared_job> prepare(const suite::bus_job& job, const pricing_table& prices,
                                    const pipeline_settings& settings,
                                    const pipeline_metrics& metrics) {
  prepared_job out{job, job.req.op == "events.ingest", {}, {}};
  auto now = suite::unix_ms_now();
  const auto& body = job.req.body.object;
  if (out.single) {
    auto prepared = prepare_event(body, prices, now);
    if (auto* errors = std::get_if<std::vector<suite::error_detail>>(&prepared)) {
      metrics.rejected->Increment();
      suite::respond_error(
          job, suite::make_error(400, "validation_failed", "invalid event", std::move(*errors)));
      return std::nullopt;
    }
    out.events.push_back(std::move(std::get<prepared_event>(prepared)));
    return out;
  }
  const auto* events = suite::find_field(body, "events");
  if (!events || events->type != msgpack::type::ARRAY) {
    suite::respond_error(job, suite::make_error(400, "validation_failed", "invalid batch",
                                                {{"events", "is required and must be an array"}}));
    return std::nullopt;
  }
  if (events->via.array.size > settings.max_batch) {
    suite::respond_error(
        job, suite::make_error(
                 413, "batch_too_large",
                 "a batch holds at most " + std::to_string(settings.max_batch) +
                     " events; this one has " + std::to_string(events->via.array.size),
                 {{"events", "has more than " + std::to_string(settings.max_batch) + " items"}}));
    return std::nullopt;
  }
  out.events.reserve(events->via.array.size);
  for (std::uint32_t i = 0; i < events->via.array.size; ++i) {
    auto prepared = prepare_event(events->via.array.ptr[i], prices, now);
    if (auto* errors = std::get_if<std::vector<suite::error_detail>>(&prepared)) {
      out.rejected.push_back({i, std::move(*errors)});
    } else {
      out.events.push_back(std::move(std::get<prepared_event>(prepared)));
    }
  }
  if (!out.rejected.empty()) metrics.rejected->Increment(static_cast<double>(out.rejected.size()));
  if (out.events.empty()) {
    suite::respond_ok(job, ingest_reply_body(out, batch_outcome{}), 201);
    return std::nullopt;
  }
  return out;
}

struct writer_state {
  std::shared_ptr<event_store> store;
  pipeline_metrics metrics;
  caf::actor broadcaster;
  std::vector<prepared_job> pending;
  bool flush_scheduled = false;
};

void commit_pending(writer_state& st) {
  std::vector<const std::vector<prepared_event>*> batches;
  batches.reserve(st.pending.size());
  for (const auto& job : st.pending) batches.push_back(&job.events);
  st.metrics.group_batches->Observe(static_cast<double>(batches.size()));
  auto outcome = st.store->commit_group(batches);
  if (!outcome) {
    suite::log_error("commit.failed", {{"error", outcome.error().message}});
    for (const auto& job : st.pending) suite::respond_error(job.job, outcome.error());
    st.pending.clear();
    return;
  }
  publication pub;
  std::int64_t stored = 0, duplicates = 0;
  for (std::size_t b = 0; b < st.pending.size(); ++b) {
    auto& job = st.pending[b];
    const auto& result = outcome->batches[b];
    int status = (job.single && result.ids.empty()) ? 200 : 201;
    suite::respond_ok(job.job, ingest_reply_body(job, result), status);
    stored += static_cast<std::int64_t>(result.ids.size());
    duplicates += result.duplicates;
    if (st.broadcaster) {
      for (std::size_t k = 0; k < result.stored.size(); ++k)
        pub.events.emplace_back(result.seqs[k], std::move(job.events[result.stored[k]].packed));
    }
  }
  st.metrics.stored->Increment(static_cast<double>(stored));
  if (duplicates) st.metrics.duplicates->Increment(static_cast<double>(duplicates));
  st.metrics.memtable_bytes->Set(static_cast<double>(st.store->memtable_bytes()));
  st.metrics.block_cache_bytes->Set(static_cast<double>(st.store->block_cache_bytes()));
  st.pending.clear();
  if (st.broadcaster && stored > 0) {
    pub.sessions = std::move(outcome->sessions);
    pub.stats = outcome->stats;
    caf::anon_send(st.broadcaster, std::move(pub));
  }
}

caf::behavior writer(caf::event_based_actor* self, std::shared_ptr<writer_state> st) {
  return {
      [self, st](prepared_job& job) {
        st->pending.push_back(std::move(job));
        if (!st->flush_scheduled) {
          // The flush queues behind everything already in the mailbox: all of it joins
          // this group.
          st->flush_scheduled = true;
          self->send(self, flush_atom::value);
        }
      },
      [st](flush_atom) {
        st->flush_scheduled = false;
        commit_pending(*st);
      },
  };
}

// An XPUB: it publishes as a PUB does (to the subscribers of each topic, dropping for a
// slow one) and reports subscriptions, so the broadcaster packs nothing while nobody
// subscribes to the stream. Used by the broadcaster only.
struct pub_socket {
  zmq::socket_t socket;
  std::size_t topics_covering_stream = 0;  // subscribed topics that are prefixes of it

  // Reads the subscriptions and unsubscriptions that have arrived. An XPUB passes on the
  // first subscription to a topic and the last unsubscription (a subscriber going away
  // counts), and it updates its own filter before it passes either on: a subscription
  // the filter already applies to is read here before the next publication is packed.
  bool watched() {
    zmq::message_t note;
    while (socket.recv(note, zmq::recv_flags::dontwait)) {
      const auto* bytes = note.data<unsigned char>();
      if (note.size() == 0 || bytes[0] > 1) continue;
      std::string_view topic(reinterpret_cast<const char*>(bytes) + 1, note.size() - 1);
      if (!std::string_view(stream_topic).starts_with(topic)) continue;
      if (bytes[0] == 1) {
        ++topics_covering_stream;
      } else if (topics_covering_stream > 0) {
        --topics_covering_stream;
      }
    }
    return topics_covering_stream > 0;
  }
};

void send_frame(zmq::socket_t& socket, const msgpack::sbuffer& payload) {
  socket.send(zmq::const_buffer(stream_topic, std::char_traits<char>::length(stream_topic)),
              zmq::send_flags::sndmore);
  socket.send(zmq::const_buffer(payload.data(), payload.size()), zmq::send_flags::dontwait);
}

caf::behavior broadcaster(caf::event_based_actor*, std::shared_ptr<pub_socket> pub) {
  return {
      [pub](publication& message) {
        msgpack::sbuffer buffer(1024);
        // An event carries its seq: the gateway sends it as the SSE id, which a client
        // gives back as Last-Event-ID to resume (events.replay).
        auto frame = [&](const char* type, auto&& fill_data, std::uint64_t seq = 0) {
          buffer.clear();
          suite::msgpack_packer p(buffer);
          p.pack_map(seq ? 3 : 2);
          suite::pack_string(p, "type");
          suite::pack_string(p, type);
          if (seq) {
            suite::pack_string(p, "seq");
            p.pack_uint64(seq);
          }
          suite::pack_string(p, "data");
          fill_data(p);
          send_frame(pub->socket, buffer);
        };
        try {
          if (!pub->watched()) return;  // nobody subscribes: nothing to pack
          for (const auto& [seq, event] : message.events) {
            frame(
                "event", [&](suite::msgpack_packer&) { buffer.write(event.data(), event.size()); },
                seq);
          }
          for (const auto& session : message.sessions) {
            frame("session_update", [&](suite::msgpack_packer& p) { pack_session(p, session); });
          }
          frame("stats", [&](suite::msgpack_packer& p) { pack_stats(p, message.stats); });
        } catch (const zmq::error_t& e) {
          suite::log_warn("publish.failed", {{"error", e.what()}});
        }
      },
      // events.mark: published in order with the events, so a subscriber that receives
      // its mark receives everything published after it.
      [pub](const suite::bus_job& job) {
        if (!suite::start_unless_expired(job)) return;
        auto token = suite::string_field(job.req.body.object, "token");
        if (!token || token->empty() || token->size() > 64) {
          suite::respond_error(job, suite::make_error(400, "validation_failed", "no valid token",
                                                      {{"token", "a string of 1-64 bytes"}}));
          return;
        }
        msgpack::sbuffer buffer(128);
        suite::msgpack_packer p(buffer);
        p.pack_map(2);
        suite::pack_string(p, "type");
        suite::pack_string(p, "mark");
        suite::pack_string(p, "token");
        suite::pack_string(p, *token);
        try {
          send_frame(pub->socket, buffer);
        } catch (const zmq::error_t& e) {
          suite::respond_error(job, suite::make_error(503, "publish_failed", e.what()));
          return;
        }
        suite::respond_ok(job, suite::pack_value([](suite::msgpack_packer& p) {
                            p.pack_map(1);
                            suite::pack_string(p, "published");
                            p.pack_true();
                          }));
      },
  };
}

}  // namespace

suite::msgpack_value ingest_reply_body(const prepared_job& job, const batch_outcome& outcome) {
  msgpack::sbuffer buffer;
  suite::msgpack_packer p(buffer);
  p.pack_map(job.single ? 3 : 4);
  suite::pack_string(p, "received");
  p.pack_uint64(outcome.ids.size());
  suite::pack_string(p, "ids");
  p.pack_array(static_cast<std::uint32_t>(outcome.ids.size()));
  for (const auto& id : outcome.ids) suite::pack_string(p, id);
  suite::pack_string(p, "duplicates");
  p.pack_int64(outcome.duplicates);
  if (!job.single) {
    suite::pack_string(p, "rejected");
    p.pack_array(static_cast<std::uint32_t>(job.rejected.size()));
    for (const auto& r : job.rejected) {
      p.pack_map(2);
      suite::pack_string(p, "index");
      p.pack_uint64(r.index);
      suite::pack_string(p, "errors");
      pack_errors(p, r.errors);
    }
  }
  return suite::parse_msgpack(buffer.data(), buffer.size()).value();
}

suite::result<std::unique_ptr<ingest_pipeline>> ingest_pipeline::start(
    caf::actor_system& system, suite::metrics& metrics, std::shared_ptr<event_store> store,
    std::shared_ptr<const pricing_table> prices, pipeline_settings settings) {
  std::unique_ptr<ingest_pipeline> pipeline(new ingest_pipeline());
  auto counters = make_metrics(metrics);
  if (!settings.pub_endpoint.empty()) {
    auto pub = std::make_shared<pub_socket>(
        pub_socket{zmq::socket_t(suite::bus_context(), zmq::socket_type::xpub)});
    pub->socket.set(zmq::sockopt::linger, 0);
    pub->socket.set(zmq::sockopt::sndhwm, 200000);
    try {
      pub->socket.bind(settings.pub_endpoint);
    } catch (const zmq::error_t& e) {
      return suite::make_error(
          503, "pub_bind_failed",
          "cannot bind PUB endpoint " + settings.pub_endpoint + " (port taken?): " + e.what());
    }
    // Spawning is a full barrier: the socket moves to the broadcaster's thread safely.
    pipeline->broadcaster_ = system.spawn<caf::detached>(broadcaster, pub);
  }
  auto st = std::make_shared<writer_state>();
  st->store = std::move(store);
  st->metrics = counters;
  st->broadcaster = pipeline->broadcaster_;
  pipeline->writer_ = system.spawn<caf::detached>(writer, st);
  auto shared_settings = std::make_shared<const pipeline_settings>(settings);
  auto writer_actor = pipeline->writer_;
  pipeline->preparers_ = caf::actor_pool::make(
      system.dummy_execution_unit(), std::max<std::size_t>(1, settings.preparers),
      [&system, prices, shared_settings, counters, writer_actor] {
        // The state goes in as a spawn argument, not a capture: CAF 0.17 binds a
        // reference through a null pointer for an argument-less function actor (UBSan).
        auto preparer = [](caf::event_based_actor*, std::shared_ptr<const pricing_table> table,
                           std::shared_ptr<const pipeline_settings> limits, pipeline_metrics m,
                           caf::actor writer) -> caf::behavior {
          return {[table, limits, m, writer](const suite::bus_job& job) {
            if (!suite::start_unless_expired(job)) return;
            if (auto prepared = prepare(job, *table, *limits, m))
              caf::anon_send(writer, std::move(*prepared));
          }};
        };
        // Detached (a thread each, asleep on its mailbox): on the shared scheduler, CAF
        // 0.17's work-stealing workers poll with short sleeps between messages, and
        // under this load those wake-ups cost more CPU than the preparing itself.
        return system.spawn<caf::detached>(preparer, prices, shared_settings, counters,
                                           writer_actor);
      },
      caf::actor_pool::round_robin());
  return pipeline;
}

ingest_pipeline::~ingest_pipeline() {
  for (const auto& actor : {preparers_, writer_, broadcaster_}) {
    if (actor) caf::anon_send_exit(actor, caf::exit_reason::user_shutdown);
  }
}

}  // namespace event_ingest
