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
  prometheus::Gauge& in_use;
  prometheus::Gauge& waiting;
  prometheus::Histogram& wait_seconds;
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

suite::reply run_op(connection_state& st, const pool_shared& shared, const suite::request& req) {
  auto op = shared.ops.find(req.op);
  if (op == shared.ops.end())
    return suite::error_reply(req.id, suite::make_error(404, "unknown_op", req.op));
  for (int attempt = 0;; ++attempt) {
    if (auto connected = ensure_connected(st, shared); !connected)
      return suite::error_reply(req.id, connected.error());
    try {
      return op->second.run(*st.connection, req);
    } catch (const pqxx::broken_connection& e) {
      drop_connection(st, shared);
      if (op->second.retry_on_broken && attempt == 0) continue;
      return suite::error_reply(
          req.id,
          suite::make_error(
              503, "database_unavailable",
              std::string("the database connection broke during the request: ") + e.what()));
    } catch (const pqxx::in_doubt_error& e) {
      drop_connection(st, shared);
      return suite::error_reply(req.id, suite::make_error(503, "outcome_unknown", e.what()));
    } catch (const pqxx::sql_error& e) {
      return suite::error_reply(req.id, error_from_sql(e));
    } catch (const std::exception& e) {
      suite::log_error("pg.op_failed", {{"op", req.op}, {"error", e.what()}});
      return suite::error_reply(req.id, suite::make_error(500, "internal", e.what()));
    }
  }
}

caf::behavior connection_actor(caf::stateful_actor<connection_state>* self, caf::actor dispatcher,
                               std::shared_ptr<const pool_shared> shared) {
  if (auto connected = ensure_connected(self->state, *shared); !connected) {
    suite::log_warn("pg.connect_failed", {{"error", connected.error().message}});
  }
  self->send(dispatcher, idle_atom::value, caf::actor_cast<caf::actor>(self));
  return {
      [self, dispatcher, shared](const suite::bus_job& job, std::int64_t queued_at_ns) {
        suite::mark_started(job);
        shared->metrics->wait_seconds.Observe(static_cast<double>(now_ns() - queued_at_ns) * 1e-9);
        shared->metrics->in_use.Increment();
        if (suite::past_deadline(job.req)) {
          suite::respond_error(job, suite::make_error(504, "deadline_exceeded",
                                                      "the request waited past its deadline"));
        } else {
          suite::respond(job, run_op(self->state, *shared, job.req));
        }
        shared->metrics->in_use.Decrement();
        self->send(dispatcher, idle_atom::value, caf::actor_cast<caf::actor>(self));
      },
  };
}

// ---------------------------------------------------------------- dispatcher

struct dispatcher_state {
  std::deque<std::pair<suite::bus_job, std::int64_t>> queue;
  std::vector<caf::actor> idle;
};

caf::behavior dispatcher_actor(caf::stateful_actor<dispatcher_state>* self,
                               std::shared_ptr<const pool_shared> shared) {
  auto me = caf::actor_cast<caf::actor>(self);
  for (std::size_t i = 0; i < shared->settings.connections; ++i) {
    self->spawn<caf::detached + caf::linked>(connection_actor, me, shared);
  }
  return {
      [self, shared](const suite::bus_job& job) {
        auto& st = self->state;
        if (!st.idle.empty()) {
          auto worker = std::move(st.idle.back());
          st.idle.pop_back();
          self->send(worker, job, now_ns());
        } else if (st.queue.size() >= shared->settings.max_queue) {
          suite::respond_error(
              job, suite::make_error(503, "overloaded", "every database connection is busy"));
        } else {
          st.queue.emplace_back(job, now_ns());
          shared->metrics->waiting.Increment();
        }
      },
      [self, shared](idle_atom, const caf::actor& worker) {
        auto& st = self->state;
        if (st.queue.empty()) {
          st.idle.push_back(worker);
          return;
        }
        auto [job, queued_at] = std::move(st.queue.front());
        st.queue.pop_front();
        shared->metrics->waiting.Decrement();
        self->send(worker, std::move(job), queued_at);
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
  auto [field, message] = split_sql_message(e.what());
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
  return system.spawn(dispatcher_actor, std::shared_ptr<const pool_shared>(std::move(shared)));
}

}  // namespace clinic
