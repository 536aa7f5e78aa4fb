// clinic-records: the clinic management API (patients, visits, invoices, payments,
// audit) on PostgreSQL 15. Wiring only: settings, migrations at start, the connection
// pool, and the bus routes of every op in clinic_ops.
#include <algorithm>
#include <thread>

#include "clinic_ops.hpp"
#include "migrations.hpp"
#include "pg_pool.hpp"
#include "suite/log.hpp"
#include "suite/service_host.hpp"

namespace {

// PostgreSQL may still be starting (compose, a restart): try for a while before giving up.
suite::status migrate(const std::string& uri, int wait_seconds) {
  auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(wait_seconds);
  for (;;) {
    std::string error;
    try {
      pqxx::connection connection(uri);
      auto applied = clinic::apply_migrations(connection);
      if (applied) {
        suite::log_info("migrations.done", {{"applied", std::to_string(*applied)}});
        return suite::ok();
      }
      return applied.error();  // a failing migration will not pass by waiting
    } catch (const std::exception& e) {
      error = e.what();
    }
    if (std::chrono::steady_clock::now() >= give_up) {
      return suite::make_error(503, "database_unavailable", "cannot reach PostgreSQL: " + error);
    }
    suite::log_warn("pg.waiting", {{"error", error}});
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
}

}  // namespace

int main(int argc, char** argv) {
  suite::service_host host("clinic-records", "tcp://127.0.0.1:5551", "127.0.0.1:9101");
  // Sizing (measured on 2 cores, see README): a write waits mostly on the WAL flush, so
  // writes want many connections (16 did 3.5x the updates of 4). Reads are CPU-bound in
  // PostgreSQL and the rest of their path (gateway, bus, this service) needs CPU too, so
  // one reading connection per two cores, each answering a batch of queued reads: on 2
  // cores, 1 reading connection against 2 (3 alternating rounds, quiet machine) did
  // 20.7-23.8k GETs/s against 16.1-20.5k at saturation, and at a fixed 5,000/s gave p50
  // 1.2-1.7 ms against 1.8-2.9 ms, because bigger batches cost PostgreSQL fewer
  // transactions per read (86-92 us of its CPU per read against 153-159 with 4).
  auto cores = std::max(1u, std::thread::hardware_concurrency());
  auto default_pool = std::to_string(8 * cores);
  auto default_read_connections = std::to_string(std::max(1u, cores / 2));
  host.settings()
      .add("pg", "postgresql://suite@127.0.0.1:55432/suite", "PostgreSQL connection URI (libpq)",
           suite::any_value(),
           /*secret=*/true)
      .add("pg-pool", default_pool, "PostgreSQL connections, one blocking actor each",
           suite::integer_in(1, 256))
      .add("pg-read-connections", default_read_connections,
           "pool connections that may answer batched reads at once", suite::integer_in(1, 256))
      .add("pg-batch", "32", "queued reads of one kind answered by one statement (1: no batching)",
           suite::integer_in(1, 1000))
      .add("pg-queue", "10000", "requests waiting for a connection before 503",
           suite::integer_in(1, 1000000))
      .add("pg-wait", "30", "seconds to wait for PostgreSQL at start", suite::integer_in(0, 3600));
  if (auto exit_code = host.configure(argc, argv)) return *exit_code;
  const auto& settings = host.settings();

  if (auto migrated = migrate(settings.str("pg"), static_cast<int>(settings.integer("pg-wait")));
      !migrated) {
    suite::log_error("migrations.failed", {{"error", migrated.error().message}});
    return 1;
  }

  clinic::pg_pool_settings pool_settings;
  pool_settings.uri = settings.str("pg");
  pool_settings.connections = static_cast<std::size_t>(settings.integer("pg-pool"));
  pool_settings.max_queue = static_cast<std::size_t>(settings.integer("pg-queue"));
  pool_settings.max_batch = static_cast<std::size_t>(settings.integer("pg-batch"));
  pool_settings.batch_connections =
      static_cast<std::size_t>(settings.integer("pg-read-connections"));
  auto pool =
      clinic::spawn_pg_pool(host.actors(), std::move(pool_settings), clinic::make_clinic_pg_ops(),
                            clinic::prepare_clinic_statements, host.metrics().registry());
  for (const auto& op : clinic::clinic_op_table()) host.route(op.op, pool);
  host.route("patients.bulk", pool);

  int exit_code = host.run();
  // The pool's connection actors are linked to it: this stops them too, so the actor
  // system can finish.
  caf::anon_send_exit(pool, caf::exit_reason::user_shutdown);
  return exit_code;
}
