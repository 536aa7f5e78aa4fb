#include "rem_metrics.hpp"

#include <mutex>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

namespace rem {

struct rem_metrics::store_link {
  std::mutex mutex;  // cold path: a scrape against this object's destruction
  const record_store* store;
};

namespace {

// Reads the store's state at every scrape, on the exposer's thread.
template <class Link>
class store_collector final : public prometheus::Collectable {
 public:
  explicit store_collector(std::shared_ptr<Link> link) : link_(std::move(link)) {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    store_stats stats;
    {
      std::lock_guard lock(link_->mutex);
      if (!link_->store) return {};
      stats = link_->store->stats();
    }
    auto entries =
        suite::gauge_family("suite_rem_store_index_entries",
                            "Entries per column family (RocksDB's estimate of its keys).");
    for (const auto& [index, count] : stats.estimated_entries)
      entries.metric.push_back(suite::gauge_sample(static_cast<double>(count), {{"index", index}}));
    auto hnsw =
        suite::gauge_family("suite_rem_store_hnsw_elements", "Live vectors over every HNSW graph.");
    hnsw.metric.push_back(suite::gauge_sample(static_cast<double>(stats.hnsw_elements)));
    auto memory =
        suite::gauge_family("suite_rem_store_rocksdb_bytes",
                            "RocksDB memory by part: memtables, block cache (shared by every "
                            "column family), table readers (the open table files' indexes "
                            "and bloom filters, outside the cache: they grow with the data).");
    const std::pair<const char*, std::uint64_t> parts[] = {
        {"memtables", stats.memtable_bytes},
        {"block_cache", stats.block_cache_bytes},
        {"table_readers", stats.table_reader_bytes}};
    for (const auto& [part, bytes] : parts)
      memory.metric.push_back(suite::gauge_sample(static_cast<double>(bytes), {{"part", part}}));
    return {std::move(entries), std::move(hnsw), std::move(memory)};
  }

 private:
  std::shared_ptr<Link> link_;
};

}  // namespace

rem_metrics::rem_metrics(suite::metrics& metrics, const record_store& store)
    : link_(std::make_shared<store_link>()) {
  link_->store = &store;
  auto& family = prometheus::BuildHistogram()
                     .Name("suite_rem_store_query_duration_seconds")
                     .Help("Query language run time (parse to packed result), by query_type.")
                     .Register(metrics.registry());
  for (std::size_t i = 0; i < query_types.size(); ++i)
    durations_[i] = &family.Add({{"type", std::string(query_types[i])}}, suite::latency_buckets());
  metrics.add_collectable(std::make_shared<store_collector<store_link>>(link_));
}

rem_metrics::~rem_metrics() {
  std::lock_guard lock(link_->mutex);
  link_->store = nullptr;
}

void rem_metrics::query_finished(std::string_view query_type, double seconds) const {
  std::size_t slot = query_types.size() - 1;
  for (std::size_t i = 0; i + 1 < query_types.size(); ++i) {
    if (query_types[i] == query_type) {
      slot = i;
      break;
    }
  }
  durations_[slot]->Observe(seconds);
}

}  // namespace rem
