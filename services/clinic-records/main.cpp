// clinic-records: the clinic management API (patients, visits, invoices, payments, SHA
// claims, reports) on PostgreSQL 15. Today it answers the sys ops; its domain comes
// with issue #5.
#include "suite/service_host.hpp"

int main(int argc, char** argv) {
  suite::service_host host("clinic-records", "tcp://127.0.0.1:5551", "127.0.0.1:9101");
  host.settings().add("pg", "postgresql://suite@127.0.0.1:55432/suite", "PostgreSQL connection URI (libpq)",
                      suite::any_value(), /*secret=*/true);
  if (auto exit_code = host.configure(argc, argv)) return *exit_code;
  return host.run();
}
