// pg_pool: a fixed pool of PostgreSQL connections, each owned by one detached (blocking)
// CAF actor, behind one dispatcher actor that the bus routes ops to.
//
// Messages: the dispatcher takes `bus_job`s. It hands each to an idle connection actor
// or queues it (FIFO, up to `max_queue`; beyond that the job is answered 503
// "overloaded", never left hanging). A connection actor runs the op's handler on its
// own connection, answers the job with respond(), and tells the dispatcher it is idle
// again. Only the connection actor ever touches its pqxx::connection.
//
// Batches: an op with `run_batch` (a read such as patients.get) has its own queue; when a
// connection frees up and that queue's oldest job is the oldest of all, the connection
// takes up to `max_batch` jobs of the op at once and answers them with one statement (one
// round trip, one transaction). At most `batch_connections` connections run batchable
// ops at once: reads are CPU-bound in PostgreSQL, so more of them in parallel only
// contend for the cores, while writes mostly wait on the WAL flush and so get the rest
// of the pool. Batches form only while those connections are busy, so an idle service
// adds no delay; under load, PostgreSQL parses, plans and commits once for many requests.
//
// Reconnects: before each job the actor polls its socket without blocking (a
// PostgreSQL restart makes it readable: a FATAL message, then EOF); a broken or missing connection
// is reopened and its statements prepared again. An op marked `retry_on_broken` (reads) is retried
// once on a fresh connection when the connection breaks under it; a write is not (it may have
// committed), and answers 503 instead. If PostgreSQL is down, jobs are answered 503
// "database_unavailable" at once.
//
// Metrics (on the service registry): suite_clinic_records_pg_pool_size (configured
// connections), suite_clinic_records_pg_pool_{connections (open now), in_use, waiting},
// suite_clinic_records_pg_pool_wait_seconds (queue wait histogram),
// suite_clinic_records_pg_batch_size (jobs per statement),
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
#include <vector>

#include "suite/bus_server.hpp"
#include "suite/envelope.hpp"

namespace clinic {

struct pg_pool_settings {
  std::string uri;                // libpq connection URI
  std::size_t connections = 4;    // one blocking actor each
  std::size_t max_queue = 10000;  // jobs waiting for a connection before 503
  std::size_t max_batch = 32;     // jobs of a batchable op answered by one statement
  // Connections that may run batchable ops (CPU-bound reads) at once; the others stay free
  // for writes, which mostly wait on the WAL flush and so want many connections.
  std::size_t batch_connections = 2;
};

// Answers several requests of one op with one statement: one reply per request, in the
// order given. Throws like `run` does; an exception fails the whole batch.
using pg_batch_run = std::function<std::vector<suite::reply>(
    pqxx::connection&, const std::vector<const suite::request*>&)>;

struct pg_op {
  std::function<suite::reply(pqxx::connection&, const suite::request&)> run;
  bool retry_on_broken = false;  // safe to run twice (a read)
  pg_batch_run run_batch;        // optional: queued jobs of this op are answered together
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
