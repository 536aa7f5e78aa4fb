// event-ingest: batched ingest of AI-agent events on RocksDB with dedup, exact stats,
// session totals and a live stream (issue #4). Wires settings, the store, the pricing
// table, the ingest pipeline (preparers -> group-commit writer -> broadcaster) and the
// query workers; the logic is in event_ingest_lib.
#include <malloc.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "event_store.hpp"
#include "ingest_pipeline.hpp"
#include "pricing_table.hpp"
#include "query_handlers.hpp"
#include "suite/log.hpp"
#include "suite/service_host.hpp"

int main(int argc, char** argv) {
  // One malloc arena per thread would keep freed batch buffers in each of ~10 threads;
  // two arenas keep the peak RSS near what is live.
  mallopt(M_ARENA_MAX, 2);
  // Blocks of 256 KB and more (memtable arena blocks, group WriteBatches, request
  // buffers) are mapped and unmapped each time: glibc would otherwise raise this
  // threshold after the first free and keep such blocks in the heap, where freed ones
  // still count in RSS.
  mallopt(M_MMAP_THRESHOLD, 256 * 1024);
  auto started = std::chrono::steady_clock::now();
  suite::service_host host("event-ingest", "tcp://127.0.0.1:5553", "127.0.0.1:9103");
  host.settings()
      .add("data-dir", "var/event-ingest", "RocksDB directory")
      .add("pub", "tcp://127.0.0.1:5563", "PUB endpoint for the live event stream",
           suite::bus_endpoint())
      .add("sync", "fsync",
           "fsync: the WAL is synced before a reply (survives power loss); os: written to the OS "
           "before a reply (survives a process crash only)",
           suite::one_of({"fsync", "os"}))
      .add("max-batch", "1000", "events in one batch request (413 above)",
           suite::integer_in(1, 100000))
      .add("block-cache-mb", "4", "RocksDB block cache (data, index and filter blocks)",
           suite::integer_in(1, 65536))
      .add("memtable-mb", "4",
           "RocksDB memtables: events half, dedup and session indexes a quarter each; at most "
           "twice this while one is flushed",
           suite::integer_in(1, 4096))
      .add("compression", "none",
           "none | lz4: compress the events' tables (less disk, more CPU on every flush)",
           suite::one_of({"none", "lz4"}))
      .add("pricing-file", "",
           "JSON pricing table (USD per million tokens by model); empty: the built-in "
           "data/pricing.json");
  if (auto exit_code = host.configure(argc, argv)) return *exit_code;
  const auto& settings = host.settings();

  std::string pricing_json = event_ingest::pricing_table::embedded_json();
  if (auto path = settings.str("pricing-file"); !path.empty()) {
    std::ifstream in(path);
    if (!in) {
      suite::log_error("pricing.unreadable", {{"path", path}});
      return 2;
    }
    std::stringstream text;
    text << in.rdbuf();
    pricing_json = text.str();
  }
  auto prices = event_ingest::pricing_table::parse(pricing_json);
  if (!prices) {
    suite::log_error("pricing.invalid", {{"error", prices.error().message}});
    return 2;
  }

  event_ingest::store_options store_options;
  store_options.path = settings.str("data-dir");
  store_options.sync = settings.str("sync") == "os" ? event_ingest::sync_policy::os
                                                    : event_ingest::sync_policy::fsync;
  store_options.block_cache_bytes = static_cast<std::size_t>(settings.integer("block-cache-mb"))
                                    << 20;
  store_options.memtable_bytes = static_cast<std::size_t>(settings.integer("memtable-mb")) << 20;
  store_options.compress = settings.str("compression") == "lz4";
  std::error_code ec;
  std::filesystem::create_directories(store_options.path, ec);
  auto store = event_ingest::event_store::open(store_options);
  if (!store) {
    suite::log_error("storage.failed", {{"error", store.error().message}});
    return 1;
  }
  std::shared_ptr<event_ingest::event_store> shared_store = std::move(*store);
  suite::log_info("storage.opened",
                  {{"path", store_options.path},
                   {"total_events", std::to_string(shared_store->counters().total_events)}});

  event_ingest::pipeline_settings pipeline_settings;
  pipeline_settings.preparers = host.worker_count();
  pipeline_settings.max_batch = static_cast<std::size_t>(settings.integer("max-batch"));
  pipeline_settings.pub_endpoint = settings.str("pub");
  auto pipeline = event_ingest::ingest_pipeline::start(
      host.actors(), host.metrics(), shared_store,
      std::make_shared<const event_ingest::pricing_table>(std::move(*prices)), pipeline_settings);
  if (!pipeline) {
    suite::log_error("pipeline.failed", {{"error", pipeline.error().message}});
    return 1;
  }
  host.route("events.ingest", (*pipeline)->entry());
  host.route("events.batch", (*pipeline)->entry());
  if (const auto& publisher = (*pipeline)->publisher()) host.route("events.mark", publisher);
  // Queries read RocksDB and may wait for the disk: each worker has a thread of its own.
  host.route_sync(event_ingest::make_query_handlers(shared_store, started),
                  suite::worker_threads::own);
  host.route("events.replay", event_ingest::spawn_replay_workers(host.actors(), shared_store, 2));
  int code = host.run();
  pipeline->reset();
  return code;
}
