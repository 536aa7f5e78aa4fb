// event-ingest: batched ingest of AI-agent events on RocksDB with dedup, stats and a
// live stream. Today it answers the sys ops; ingest comes with issue #4.
#include "suite/service_host.hpp"

int main(int argc, char** argv) {
  suite::service_host host("event-ingest", "tcp://127.0.0.1:5553", "127.0.0.1:9103");
  host.settings()
      .add("data-dir", "var/event-ingest", "RocksDB directory")
      .add("pub", "tcp://127.0.0.1:5563", "PUB endpoint for the live event stream", suite::bus_endpoint());
  if (auto exit_code = host.configure(argc, argv)) return *exit_code;
  return host.run();
}
