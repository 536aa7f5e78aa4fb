#include "migrations.hpp"

#include "suite/log.hpp"

namespace clinic {

namespace {
// Any constant shared by every instance: it names "the clinic-records schema" lock.
constexpr long long migration_lock_key = 0x636c696e6963;  // "clinic"
}  // namespace

suite::result<int> apply_migrations(pqxx::connection& connection,
                                    const std::vector<migration>& migrations) {
  int applied = 0;
  try {
    {
      pqxx::work txn(connection);
      txn.exec("SELECT pg_advisory_xact_lock(" + std::to_string(migration_lock_key) + ")");
      txn.exec0(
          "CREATE TABLE IF NOT EXISTS schema_migrations ("
          " version integer PRIMARY KEY, name text NOT NULL,"
          " applied_at timestamptz NOT NULL DEFAULT now())");
      txn.commit();
    }
    for (const auto& m : migrations) {
      pqxx::work txn(connection);
      txn.exec("SELECT pg_advisory_xact_lock(" + std::to_string(migration_lock_key) + ")");
      auto done =
          txn.exec("SELECT 1 FROM schema_migrations WHERE version = " + std::to_string(m.number));
      if (!done.empty()) continue;
      txn.exec(m.sql);
      txn.exec0("INSERT INTO schema_migrations (version, name) VALUES (" +
                std::to_string(m.number) + ", " + txn.quote(m.name) + ")");
      txn.commit();
      suite::log_info("migration.applied",
                      {{"version", std::to_string(m.number)}, {"name", m.name}});
      ++applied;
    }
  } catch (const std::exception& e) {
    return suite::make_error(500, "migration_failed", e.what());
  }
  return applied;
}

}  // namespace clinic
