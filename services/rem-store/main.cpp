// rem-store: a multi-tenant Resources-Entities-Moments store on RocksDB with graph
// edges, secondary indexes, HNSW vector search and a query language (issue #7). This
// file wires settings, the store, the engine and the bus; the logic is in rem_store_lib.
#include "embedder.hpp"
#include "query_engine.hpp"
#include "record_store.hpp"
#include "rem_metrics.hpp"
#include "rem_ops.hpp"
#include "suite/log.hpp"
#include "suite/service_host.hpp"

#include <zmq.hpp>

int main(int argc, char** argv) {
  suite::service_host host("rem-store", "tcp://127.0.0.1:5554", "127.0.0.1:9104");
  host.settings()
      .add("data-dir", "var/rem-store", "RocksDB directory (HNSW graphs under <data-dir>/hnsw)")
      .add("sync-writes", "true", "fsync the WAL before acknowledging a write",
           suite::one_of({"true", "false"}))
      .add("block-cache-mb", "64", "RocksDB block cache", suite::integer_in(1, 1 << 20))
      .add("memtable-mb", "32", "RocksDB memtables of all column families together",
           suite::integer_in(1, 1 << 16))
      .add("hnsw-m", "16", "HNSW M (links per node)", suite::integer_in(2, 128))
      .add("hnsw-ef-construction", "200", "HNSW ef at build time", suite::integer_in(8, 4096))
      .add("hnsw-ef-search", "64", "HNSW ef at query time (raised to k when k is larger)",
           suite::integer_in(1, 4096))
      .add("query-max-rows", "10000", "most rows a query may return",
           suite::integer_in(1, 10000000))
      .add("query-max-depth", "10", "deepest TRAVERSE", suite::integer_in(1, 100))
      .add("query-timeout-ms", "5000", "longest a query may run", suite::integer_in(1, 3600000))
      .add("embedder", "hashing",
           "hashing (built-in offline lexical stand-in) | ollama (/api/embed) | openai "
           "(/v1/embeddings)",
           suite::one_of({"hashing", "ollama", "openai"}))
      .add("embedder-url", "http://127.0.0.1:11434",
           "base URL of the ollama/openai embedder (http:// only)")
      .add("embedder-model", "nomic-embed-text", "embedding model name")
      .add("embedder-api-key", "", "openai API key (sent as a bearer token)", suite::any_value(),
           true)
      .add("embedder-dimension", "384", "vector dimension (the remote model's must match)",
           suite::integer_in(8, 8192))
      .add("embedder-batch", "32", "texts per embedder request", suite::integer_in(1, 4096));
  if (auto exit_code = host.configure(argc, argv)) return *exit_code;
  const auto& settings = host.settings();

  // A taken bus port must be the start-up error a second instance reports, before it
  // touches (and fails on the lock of) the first instance's data directory.
  try {
    zmq::context_t probe_context;
    zmq::socket_t probe(probe_context, zmq::socket_type::router);
    probe.set(zmq::sockopt::linger, 0);
    probe.bind(settings.str("bus"));
  } catch (const zmq::error_t& e) {
    suite::log_error("bus.failed", {{"endpoint", settings.str("bus")}, {"error", e.what()}});
    return 1;
  }

  rem::store_options options;
  options.path = settings.str("data-dir");
  options.sync_writes = settings.str("sync-writes") == "true";
  options.block_cache_bytes = static_cast<std::size_t>(settings.integer("block-cache-mb")) << 20;
  options.memtable_bytes = static_cast<std::size_t>(settings.integer("memtable-mb")) << 20;
  options.hnsw.m = static_cast<std::size_t>(settings.integer("hnsw-m"));
  options.hnsw.ef_construction = static_cast<std::size_t>(settings.integer("hnsw-ef-construction"));
  options.hnsw.ef_search = static_cast<std::size_t>(settings.integer("hnsw-ef-search"));
  options.hnsw.dimension = static_cast<std::size_t>(settings.integer("embedder-dimension"));
  if (settings.str("embedder") != "hashing") {
    rem::http_embedder_settings remote;
    remote.provider = settings.str("embedder");
    remote.url = settings.str("embedder-url");
    remote.model = settings.str("embedder-model");
    remote.api_key = settings.str("embedder-api-key");
    remote.dimension = options.hnsw.dimension;
    remote.batch_size = static_cast<std::size_t>(settings.integer("embedder-batch"));
    options.text_embedder = rem::make_http_embedder(remote);
  }
  auto store = rem::record_store::open(options);
  if (!store) {
    suite::log_error("store.open_failed", {{"error", store.error().message}});
    return 1;
  }
  for (const auto& line : (*store)->startup_report())
    suite::log_info("hnsw.graph", {{"graph", line}});

  rem::query_limits limits;
  limits.max_rows = settings.integer("query-max-rows");
  limits.max_depth = static_cast<int>(settings.integer("query-max-depth"));
  limits.timeout_ms = settings.integer("query-timeout-ms");
  rem::rem_metrics metrics(host.metrics(), **store);
  rem::query_engine engine(**store, limits, &metrics);

  // Writes wait for their fsync and reads may wait for the disk: the workers block, so
  // each runs on a thread of its own, never on one the actor scheduler needs.
  host.route_sync(rem::make_rem_handlers(**store, engine), suite::worker_threads::own);
  int code = host.run();
  if (auto closed = (*store)->close(); !closed) {
    suite::log_error("store.close_failed", {{"error", closed.error().message}});
    return code ? code : 1;
  }
  return code;
}
