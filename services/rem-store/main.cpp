// rem-store: a multi-tenant Resources-Entities-Moments store on RocksDB with graph
// edges, secondary indexes and vector search. Today it answers the sys ops; the store
// comes with issue #7.
#include "suite/service_host.hpp"

int main(int argc, char** argv) {
  suite::service_host host("rem-store", "tcp://127.0.0.1:5554", "127.0.0.1:9104");
  host.settings().add("data-dir", "var/rem-store", "RocksDB directory");
  if (auto exit_code = host.configure(argc, argv)) return *exit_code;
  return host.run();
}
