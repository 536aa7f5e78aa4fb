// migrations: the versioned SQL of schemas/sql (embedded at build time), applied at
// start in number order. Each migration runs in its own transaction together with its
// row in schema_migrations, so a migration is either wholly applied and recorded or
// not at all; a transaction-scoped advisory lock makes two instances starting at once
// apply each migration exactly once. Blocking; call from one thread at start-up.
#pragma once

#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "suite/result.hpp"

namespace clinic {

struct migration {
  int number;        // from the file name's prefix, e.g. 1 for 0001_patients_audit.sql
  std::string name;  // the file name
  std::string sql;
};

// Every file of schemas/sql, sorted by number.
const std::vector<migration>& embedded_migrations();

// Applies the migrations not yet recorded; returns how many were applied.
suite::result<int> apply_migrations(
    pqxx::connection& connection, const std::vector<migration>& migrations = embedded_migrations());

}  // namespace clinic
