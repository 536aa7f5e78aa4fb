// pg_pool: a fixed pool of PostgreSQL connections, each owned by one detached (blocking)
// CAF actor, behind one dispatcher actor that the bus routes ops to.
//
// Messages: the dispatcher takes `bus_job`s. It hands each to an idle connection actor
// or queues it (FIFO, up to `max_queue`; beyond that the job is answered 503
// "overloaded", never left hanging). A connection actor runs the op's handler on its
// own connection, answers the job with respond(), and tells the dispatcher it is idle
// again. Only the connection actor ever touches its pqxx::connection.
//
// Reconnects: before each job the actor polls its socket without blocking (a
// PostgreSQL restart makes it readable: a FATAL message, then EOF); a broken or missing connection
// is reopened and its statements prepared again. An op marked `retry_on_broken` (reads) is retried
// once on a fresh connection when the connection breaks under it; a write is not (it may have
// committed), and answers 503 instead. If PostgreSQL is down, jobs are answered 503
// "database_unavailable" at once.
//
// Metrics (on the service registry): suite_clinic_records_pg_pool_{connections,
// in_use, waiting}, suite_clinic_records_pg_pool_wait_seconds (queue wait histogram),
// suite_clinic_records_pg_reconnects_total, suite_clinic_records_pg_connect_failures_total.
//
// Stop: send the dispatcher an exit message; its connection actors are linked to it and
// stop with it (after the job in hand).
#pragma once

#include <prometheus/registry.h>

#include <caf/all.hpp>
#include <cstddef>
#include <functional>
#include <pqxx/pqxx>
#include <string>
#include <unordered_map>

#include "suite/bus_server.hpp"
#include "suite/envelope.hpp"

namespace clinic {

struct pg_pool_settings {
  std::string uri;                // libpq connection URI
  std::size_t connections = 4;    // one blocking actor each
  std::size_t max_queue = 10000;  // jobs waiting for a connection before 503
};

struct pg_op {
  std::function<suite::reply(pqxx::connection&, const suite::request&)> run;
  bool retry_on_broken = false;  // safe to run twice (a read)
};
using pg_ops = std::unordered_map<std::string, pg_op>;

// Called on each new connection (prepared statements).
using pg_prepare = std::function<void(pqxx::connection&)>;

// Spawns the dispatcher and its connection actors; connections open at once (a failure
// is logged and retried on the next job).
caf::actor spawn_pg_pool(caf::actor_system& system, pg_pool_settings settings, pg_ops ops,
                         pg_prepare prepare, prometheus::Registry& registry);

// Maps a PostgreSQL error to the reply the caller gets: the functions' own "CRnnn"
// SQLSTATEs become status nnn with the field named in the message ("field|text");
// constraint and data errors become 400/409; anything else 500.
suite::error_info error_from_sql(const pqxx::sql_error& e);

}  // namespace clinic
