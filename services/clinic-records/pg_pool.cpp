#include "pg_pool.hpp"

#include <poll.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>

#include <chrono>
#include <deque>
#include <memory>
#include <vector>

#include "suite/log.hpp"
#include "suite/metrics.hpp"

namespace clinic {

namespace {

using idle_atom = caf::atom_constant<caf::atom("pgidle")>;

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

struct pool_metrics {
  explicit pool_metrics(prometheus::Registry& registry)
      : connections(prometheus::BuildGauge()
                        .Name("suite_clinic_records_pg_pool_connections")
                        .Help("PostgreSQL connections currently open in the pool")
                        .Register(registry)
                        .Add({})),
        size(prometheus::BuildGauge()
                 .Name("suite_clinic_records_pg_pool_size")
                 .Help("PostgreSQL connections the pool is configured to hold")
                 .Register(registry)
                 .Add({})),
        in_use(prometheus::BuildGauge()
                   .Name("suite_clinic_records_pg_pool_in_use")
                   .Help("Pool connections running a request now")
                   .Register(registry)
                   .Add({})),
        waiting(prometheus::BuildGauge()
                    .Name("suite_clinic_records_pg_pool_waiting")
                    .Help("Requests queued for a free pool connection")
                    .Register(registry)
                    .Add({})),
        wait_seconds(prometheus::BuildHistogram()
                         .Name("suite_clinic_records_pg_pool_wait_seconds")
                         .Help("Time a request waited for a free pool connection")
                         .Register(registry)
                         .Add({}, suite::latency_buckets())),
        batch_size(prometheus::BuildHistogram()
                       .Name("suite_clinic_records_pg_batch_size")
                       .Help("Requests answered by one statement on one connection")
                       .Register(registry)
                       .Add({}, prometheus::Histogram::BucketBoundaries{1, 2, 4, 8, 16, 32, 64, 128,
                                                                        256})),
        reconnects(prometheus::BuildCounter()
                       .Name("suite_clinic_records_pg_reconnects_total")
                       .Help("Pool connections reopened after PostgreSQL closed them")
                       .Register(registry)
                       .Add({})),
        connect_failures(prometheus::BuildCounter()
                             .Name("suite_clinic_records_pg_connect_failures_total")
                             .Help("Failed attempts to open a pool connection")
                             .Register(registry)
                             .Add({})) {}
  prometheus::Gauge& connections;
  prometheus::Gauge& size;
  prometheus::Gauge& in_use;
  prometheus::Gauge& waiting;
  prometheus::Histogram& wait_seconds;
  prometheus::Histogram& batch_size;
  prometheus::Counter& reconnects;
  prometheus::Counter& connect_failures;
};

// What every actor of one pool shares, read-only after start.
struct pool_shared {
  pg_pool_settings settings;
  pg_ops ops;
  pg_prepare prepare;
  std::unique_ptr<pool_metrics> metrics;
};

// ---------------------------------------------------------------- connection actor

struct connection_state {
  std::unique_ptr<pqxx::connection> connection;
  bool ever_connected = false;
};

void drop_connection(connection_state& st, const pool_shared& shared) {
  if (!st.connection) return;
  st.connection.reset();
  shared.metrics->connections.Decrement();
}

// An idle connection has nothing to read: we never LISTEN, so readable means the server
// said goodbye (PostgreSQL's shutdown sends a FATAL message, then closes the socket).
// One poll with no timeout, so checking before each job costs no round trip.
bool looks_alive(pqxx::connection& connection) {
  int fd = connection.sock();
  if (fd < 0 || !connection.is_open()) return false;
  pollfd probe{fd, POLLIN, 0};
  return ::poll(&probe, 1, 0) == 0;
}

// Opens the connection if there is none, or if the server closed it.
suite::status ensure_connected(connection_state& st, const pool_shared& shared) {
  if (st.connection) {
    if (looks_alive(*st.connection)) return suite::ok();
    drop_connection(st, shared);
  }
  try {
    auto connection = std::make_unique<pqxx::connection>(shared.settings.uri);
    if (shared.prepare) shared.prepare(*connection);
    st.connection = std::move(connection);
    shared.metrics->connections.Increment();
    if (st.ever_connected) shared.metrics->reconnects.Increment();
    st.ever_connected = true;
    return suite::ok();
  } catch (const std::exception& e) {
    shared.metrics->connect_failures.Increment();
    return suite::make_error(503, "database_unavailable",
                             std::string("cannot reach PostgreSQL: ") + e.what());
  }
}

// Runs `attempt(connection)` on this actor's connection, reconnecting first if needed and
// retrying once on a fresh connection when it breaks and `retry_on_broken` allows it.
// Errors come back as values.
template <class Attempt>
auto on_connection(connection_state& st, const pool_shared& shared, bool retry_on_broken,
                   const std::string& op_name, Attempt&& attempt)
    -> suite::result<decltype(attempt(std::declval<pqxx::connection&>()))> {
  for (int tries = 0;; ++tries) {
    if (auto connected = ensure_connected(st, shared); !connected) return connected.error();
    try {
      return attempt(*st.connection);
    } catch (const pqxx::broken_connection& e) {
      drop_connection(st, shared);
      if (retry_on_broken && tries == 0) continue;
      return suite::make_error(
          503, "database_unavailable",
          std::string("the database connection broke during the request: ") + e.what());
    } catch (const pqxx::in_doubt_error& e) {
      drop_connection(st, shared);
      return suite::make_error(503, "outcome_unknown", e.what());
    } catch (const pqxx::sql_error& e) {
      return error_from_sql(e);
    } catch (const std::exception& e) {
      suite::log_error("pg.op_failed", {{"op", op_name}, {"error", e.what()}});
      return suite::make_error(500, "internal", e.what());
    }
  }
}

suite::reply run_op(connection_state& st, const pool_shared& shared, const suite::request& req) {
  auto op = shared.ops.find(req.op);
  if (op == shared.ops.end())
    return suite::error_reply(req.id, suite::make_error(404, "unknown_op", req.op));
  auto answered = on_connection(st, shared, op->second.retry_on_broken, req.op,
                                [&](pqxx::connection& c) { return op->second.run(c, req); });
  if (!answered) return suite::error_reply(req.id, answered.error());
  return std::move(*answered);
}

// One statement for every job of `jobs` (all of one batchable op); each job gets its reply.
void run_batch(connection_state& st, const pool_shared& shared, const pg_op& op,
               const std::vector<const suite::bus_job*>& jobs) {
  std::vector<const suite::request*> requests;
  requests.reserve(jobs.size());
  for (const auto* job : jobs) requests.push_back(&job->req);
  auto answered = on_connection(st, shared, op.retry_on_broken, jobs.front()->req.op,
                                [&](pqxx::connection& c) { return op.run_batch(c, requests); });
  if (answered && answered->size() != jobs.size()) {
    answered = suite::make_error(500, "internal", "a batch returned the wrong number of replies");
  }
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    if (answered) {
      suite::respond(*jobs[i], std::move((*answered)[i]));
    } else {
      suite::respond_error(*jobs[i], answered.error());
    }
  }
}

struct queued_job {
  suite::bus_job job;
  std::int64_t queued_at_ns = 0;
};

// What the dispatcher sends a connection actor: one job, or several of one batchable op.
struct job_batch {
  std::vector<queued_job> jobs;
};

}  // namespace
}  // namespace clinic

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(clinic::job_batch)

namespace clinic {
namespace {

caf::behavior connection_actor(caf::stateful_actor<connection_state>* self, caf::actor dispatcher,
                               std::shared_ptr<const pool_shared> shared) {
  if (auto connected = ensure_connected(self->state, *shared); !connected) {
    suite::log_warn("pg.connect_failed", {{"error", connected.error().message}});
  }
  self->send(dispatcher, idle_atom::value, caf::actor_cast<caf::actor>(self), false);
  return {
      [self, dispatcher, shared](const job_batch& batch) {
        auto& metrics = *shared->metrics;
        metrics.in_use.Increment();
        auto started = now_ns();
        std::vector<const suite::bus_job*> live;
        live.reserve(batch.jobs.size());
        for (const auto& queued : batch.jobs) {
          metrics.wait_seconds.Observe(static_cast<double>(started - queued.queued_at_ns) * 1e-9);
          // Work found past its deadline is answered 504 and counted, never run.
          if (suite::start_unless_expired(queued.job)) live.push_back(&queued.job);
        }
        auto op = shared->ops.find(batch.jobs.front().job.req.op);
        bool batchable = op != shared->ops.end() && op->second.run_batch;
        if (!live.empty()) {
          metrics.batch_size.Observe(static_cast<double>(live.size()));
          if (live.size() > 1 && batchable) {
            run_batch(self->state, *shared, op->second, live);
          } else {
            for (const auto* job : live)
              suite::respond(*job, run_op(self->state, *shared, job->req));
          }
        }
        metrics.in_use.Decrement();
        self->send(dispatcher, idle_atom::value, caf::actor_cast<caf::actor>(self), batchable);
      },
  };
}

// ---------------------------------------------------------------- dispatcher

struct dispatcher_state {
  std::deque<queued_job> queue;  // jobs of ops answered one at a time
  // One queue per batchable op, so a free connection can take many of them at once.
  std::unordered_map<std::string, std::deque<queued_job>> batch_queues;
  std::size_t waiting = 0;
  std::size_t batches_running = 0;  // connections running a batchable op now
  std::vector<caf::actor> idle;
};

// The next work for a free connection: the oldest queued job, with the jobs queued
// behind it for the same batchable op (up to max_batch). Batchable ops are only taken
// while fewer than `batch_connections` connections run one. Empty when nothing can go.
job_batch take_next(dispatcher_state& st, const pg_pool_settings& settings) {
  std::deque<queued_job>* oldest = st.queue.empty() ? nullptr : &st.queue;
  bool batches_allowed = st.batches_running < settings.batch_connections;
  for (auto& [op, queue] : st.batch_queues) {
    if (batches_allowed && !queue.empty() &&
        (!oldest || queue.front().queued_at_ns < oldest->front().queued_at_ns)) {
      oldest = &queue;
    }
  }
  job_batch batch;
  if (!oldest) return batch;
  bool batchable = oldest != &st.queue;
  std::size_t take =
      batchable ? std::min(std::max<std::size_t>(1, settings.max_batch), oldest->size()) : 1;
  if (batchable) ++st.batches_running;
  batch.jobs.reserve(take);
  for (std::size_t i = 0; i < take; ++i) {
    batch.jobs.push_back(std::move(oldest->front()));
    oldest->pop_front();
  }
  st.waiting -= take;
  return batch;
}

caf::behavior dispatcher_actor(caf::stateful_actor<dispatcher_state>* self,
                               std::shared_ptr<const pool_shared> shared) {
  auto me = caf::actor_cast<caf::actor>(self);
  for (std::size_t i = 0; i < shared->settings.connections; ++i) {
    self->spawn<caf::detached + caf::linked>(connection_actor, me, shared);
  }
  for (const auto& [name, op] : shared->ops) {
    if (op.run_batch) self->state.batch_queues[name];
  }
  return {
      [self, shared](const suite::bus_job& job) {
        auto& st = self->state;
        auto batch_queue = st.batch_queues.find(job.req.op);
        bool batchable = batch_queue != st.batch_queues.end();
        if (!st.idle.empty() &&
            (!batchable || st.batches_running < shared->settings.batch_connections)) {
          auto worker = std::move(st.idle.back());
          st.idle.pop_back();
          if (batchable) ++st.batches_running;
          job_batch one;
          one.jobs.push_back({job, now_ns()});
          self->send(worker, std::move(one));
        } else if (st.waiting >= shared->settings.max_queue) {
          suite::respond_error(
              job, suite::make_error(503, "overloaded", "every database connection is busy"));
        } else {
          auto& queue = batchable ? batch_queue->second : st.queue;
          queue.push_back({job, now_ns()});
          ++st.waiting;
          shared->metrics->waiting.Set(static_cast<double>(st.waiting));
        }
      },
      [self, shared](idle_atom, const caf::actor& worker, bool finished_batchable) {
        auto& st = self->state;
        if (finished_batchable) --st.batches_running;
        auto batch = take_next(st, shared->settings);
        if (batch.jobs.empty()) {
          st.idle.push_back(worker);
          return;
        }
        shared->metrics->waiting.Set(static_cast<double>(st.waiting));
        self->send(worker, std::move(batch));
      },
  };
}

// "ERROR:  field|message\nCONTEXT: ..." -> {field, message}
std::pair<std::string, std::string> split_sql_message(std::string_view text) {
  if (text.starts_with("ERROR:")) text.remove_prefix(6);
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  if (auto nl = text.find('\n'); nl != std::string_view::npos) text = text.substr(0, nl);
  if (auto bar = text.find('|');
      bar != std::string_view::npos && text.substr(0, bar).find(' ') == std::string_view::npos) {
    return {std::string(text.substr(0, bar)), std::string(text.substr(bar + 1))};
  }
  return {"", std::string(text)};
}

}  // namespace

suite::error_info error_from_sql(const pqxx::sql_error& e) {
  const std::string& state = e.sqlstate();
  // Named references, not a structured binding: clang before 16 cannot capture those.
  const auto split = split_sql_message(e.what());
  const std::string& field = split.first;
  const std::string& message = split.second;
  auto with_field = [&](int status, const char* code) {
    std::vector<suite::error_detail> details;
    if (!field.empty()) details.push_back({field, message});
    return suite::make_error(status, code, field.empty() ? message : field + ": " + message,
                             std::move(details));
  };
  if (state.size() == 5 && state.starts_with("CR")) {
    int status = std::atoi(state.c_str() + 2);
    const char* code = status == 404 ? "not_found" : status == 409 ? "conflict" : "bad_request";
    return with_field(status, code);
  }
  if (state == "23505") return with_field(409, "conflict");  // unique_violation
  if (state.starts_with("23"))
    return with_field(400, "constraint_violation");  // not null, check, foreign key
  if (state.starts_with("22"))
    return with_field(400, "bad_value");  // bad date, number out of range...
  if (state == "40001" || state == "40P01")
    return with_field(503, "retry");  // serialization, deadlock
  if (state.starts_with("57P") || state.starts_with("08"))
    return with_field(503, "database_unavailable");
  suite::log_error("pg.error", {{"sqlstate", state}, {"error", message}});
  return suite::make_error(500, "database_error", message);
}

caf::actor spawn_pg_pool(caf::actor_system& system, pg_pool_settings settings, pg_ops ops,
                         pg_prepare prepare, prometheus::Registry& registry) {
  auto shared = std::make_shared<pool_shared>();
  shared->settings = std::move(settings);
  shared->ops = std::move(ops);
  shared->prepare = std::move(prepare);
  shared->metrics = std::make_unique<pool_metrics>(registry);
  shared->metrics->size.Set(static_cast<double>(shared->settings.connections));
  return system.spawn(dispatcher_actor, std::shared_ptr<const pool_shared>(std::move(shared)));
}

}  // namespace clinic
