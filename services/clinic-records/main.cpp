// clinic-records: the clinic management API (patients, visits, invoices, payments,
// audit) on PostgreSQL 15. Wiring only: settings, migrations at start, the connection
// pool, and the bus routes of every op in clinic_ops.
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
  host.settings()
      .add("pg", "postgresql://suite@127.0.0.1:55432/suite", "PostgreSQL connection URI (libpq)",
           suite::any_value(),
           /*secret=*/true)
      .add("pg-pool", "8", "PostgreSQL connections, one blocking actor each",
           suite::integer_in(1, 256))
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
