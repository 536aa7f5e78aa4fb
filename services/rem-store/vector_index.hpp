// vector_index: one HNSW graph (hnswlib, inner product on unit vectors, so distance =
// 1 - cosine) per tenant and type, labelled by the record id's 64-bit number.
//
// Durability: RocksDB's embeddings column family is the truth; the graph files under
// <dir> are a cache. save_all() (clean stop) writes each graph with a checksum file and
// then a CLEAN marker; start-up consumes the marker. A graph is loaded only when the
// marker was there, its checksum matches and its live count equals the number of
// embeddings in RocksDB; otherwise (crash, missing or corrupt file) it is rebuilt from
// RocksDB. hnswlib's distance kernels are compiled with the build's flags: the default
// build targets baseline x86-64 (SSE), no -march=native, so binaries are portable.
//
// Thread-safety: every method may be called from any thread. Searches of one graph run
// in parallel (shared lock); inserts and deletes take it exclusively.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "suite/result.hpp"

namespace rem {

struct hnsw_settings {
  std::string dir;  // graph files; empty = keep in memory only
  std::size_t dimension = 384;
  std::size_t m = 16;
  std::size_t ef_construction = 200;
  std::size_t ef_search = 64;
};

struct vector_hit {
  std::uint64_t label;
  float distance;
};

class vector_catalog {
 public:
  explicit vector_catalog(hnsw_settings settings);
  ~vector_catalog();

  const hnsw_settings& settings() const { return settings_; }

  // Calls `visit(label, vector)` for every stored embedding of one graph.
  using embedding_source =
      std::function<void(const std::function<void(std::uint64_t, const float*)>&)>;
  // Start-up: loads the graph file when it is trustworthy, otherwise rebuilds it from
  // `source`. Returns "loaded" or "rebuilt".
  std::string open_graph(const std::string& tenant, const std::string& type,
                         std::size_t expected_count, const embedding_source& source,
                         bool trust_files);

  // Forgets one type's graph and its files (its schema no longer has embedding fields).
  void drop_graph(const std::string& tenant, const std::string& type);

  void upsert(const std::string& tenant, const std::string& type, std::uint64_t label,
              const float* vector);
  void remove(const std::string& tenant, const std::string& type, std::uint64_t label);
  // Up to k nearest, nearest first.
  std::vector<vector_hit> search(const std::string& tenant, const std::string& type,
                                 const float* query, std::size_t k) const;
  std::size_t size(const std::string& tenant, const std::string& type) const;
  // Live vectors over every graph (metrics).
  std::size_t total_size() const;

  // Start-up: true when the previous run stopped cleanly (and consumes the marker).
  bool consume_clean_marker();
  // Clean stop: writes every graph and its checksum, then the CLEAN marker.
  suite::status save_all();

 private:
  struct graph;
  std::shared_ptr<graph> find(const std::string& tenant, const std::string& type) const;
  std::shared_ptr<graph> find_or_create(const std::string& tenant, const std::string& type);
  std::string file_stem(const std::string& tenant, const std::string& type) const;

  hnsw_settings settings_;
  mutable std::shared_mutex graphs_mutex_;
  std::unordered_map<std::string, std::shared_ptr<graph>> graphs_;  // key: tenant \0 type
};

}  // namespace rem
