// rem_metrics: rem-store's own Prometheus families, beside the standard ones of
// suite::metrics:
//   suite_rem_store_query_duration_seconds{type}  histogram, one series per query_type
//                                                 (lookup, traverse, search, select,
//                                                 explain), made at start-up
//   suite_rem_store_index_entries{index}          gauge, RocksDB's key estimate per column
//                                                 family (records, keys, indexes,
//                                                 edges_out, edges_in, embeddings)
//   suite_rem_store_hnsw_elements                 gauge, live vectors over every graph
//   suite_rem_store_rocksdb_memtable_bytes        gauge
//   suite_rem_store_rocksdb_block_cache_bytes     gauge
// The histogram is recorded on the query path (lock-free, no allocation: the series are
// looked up in a fixed array). The gauges cost the hot path nothing: they are read from
// the store at every scrape (record_store::stats(), a few property reads).
//
// Lifetime: construct at start-up, before metrics::serve(), and destroy before the store.
// The metrics server may outlive both: once this object is gone, scrapes no longer read
// the store and the four gauges disappear.
#pragma once

#include <array>
#include <memory>
#include <string_view>

#include <prometheus/histogram.h>

#include "query_engine.hpp"
#include "record_store.hpp"
#include "suite/metrics.hpp"

namespace rem {

class rem_metrics final : public query_observer {
 public:
  rem_metrics(suite::metrics& metrics, const record_store& store);
  ~rem_metrics() override;
  rem_metrics(const rem_metrics&) = delete;
  rem_metrics& operator=(const rem_metrics&) = delete;

  // Lock-free; a query_type outside the known five is counted as "other".
  void query_finished(std::string_view query_type, double seconds) const override;

 private:
  static constexpr std::array<std::string_view, 6> query_types{"lookup", "traverse", "search",
                                                               "select", "explain",  "other"};
  std::array<prometheus::Histogram*, query_types.size()> durations_{};
  struct store_link;  // the store as the scrape thread sees it; cleared on destruction
  std::shared_ptr<store_link> link_;
};

}  // namespace rem
