// record_store: rem-store's durable state on RocksDB: type schemas per tenant, records
// (resources, entities, moments) with their key index, secondary indexes and
// embeddings, and typed directed edges. Key layout: key_codec.hpp; every key starts
// with the tenant, and every method takes the tenant from its caller (the envelope),
// never from a body.
//
// Guarantees: a record and all its index, key and embedding entries change in one
// WriteBatch, written with sync when `sync_writes` (so an acknowledged write survives a
// crash); a write that fails validation changes nothing. Deletes are soft: the record
// keeps its id and gains deleted_at, its index entries and embedding go, reads and
// queries no longer see it, and upserting its key again revives it.
//
// Thread-safety: all methods are safe to call from any thread. Reads run in parallel;
// writes (read-modify-write of a record and its index entries) are serialized by an
// internal mutex, so two upserts of one key never leave stale index entries.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "embedder.hpp"
#include "scalar.hpp"
#include "suite/msgpack_value.hpp"
#include "suite/result.hpp"
#include "type_schema.hpp"
#include "vector_index.hpp"

namespace rocksdb {
class DB;
class ColumnFamilyHandle;
class Cache;
}  // namespace rocksdb

namespace rem {

struct store_options {
  std::string path;
  bool sync_writes = true;
  std::size_t block_cache_bytes = 64u << 20;
  // Memtables of all column families together (RocksDB flushes the largest past it);
  // each family's memtable is at most half of it.
  std::size_t memtable_bytes = 32u << 20;
  hnsw_settings hnsw;  // hnsw.dir defaults to <path>/hnsw; its dimension is the embedder's
  // Null: the built-in hashing embedder (offline stand-in) of hnsw.dimension.
  std::shared_ptr<const embedder> text_embedder;
};

// A record as stored: {id, type, key, created_at, modified_at, deleted_at, properties}.
struct record {
  std::string id;
  msgpack::object_handle handle;
  const msgpack::object& object() const { return handle.get(); }
};

struct upsert_outcome {
  std::string id;
  std::string key;
  bool created = false;  // false: an existing record (possibly soft-deleted) was replaced
};

enum class edge_direction { out, in };

// What the store holds and what RocksDB's memory is, read on demand (a metrics scrape).
struct store_stats {
  std::uint64_t memtable_bytes = 0;      // the memtables of every column family
  std::uint64_t block_cache_bytes = 0;   // the block cache all column families share
  std::uint64_t table_reader_bytes = 0;  // the open table files' indexes and filters
  // RocksDB's estimate of the keys in each column family (records, indexes, edges_out,
  // edges_in, embeddings): an estimate, since deletes and overwrites are
  // only reconciled by compaction.
  std::vector<std::pair<std::string, std::uint64_t>> estimated_entries;
  std::uint64_t hnsw_elements = 0;  // live vectors over every graph
};

// Reads a top-level field of a stored record: id, type, key, created_at, modified_at,
// deleted_at, properties; any other name is a property, with '.' walking into nested maps.
const msgpack::object* record_field(const msgpack::object& record, std::string_view field);
// A property of a properties map, '.' walking into nested maps.
const msgpack::object* record_field_in_properties(const msgpack::object& properties,
                                                  std::string_view path);

class record_store {
 public:
  static suite::result<std::unique_ptr<record_store>> open(store_options options);
  ~record_store();
  record_store(const record_store&) = delete;
  record_store& operator=(const record_store&) = delete;

  // Registers or replaces a type. Replacing may change indexed and embedding fields
  // (existing records are re-indexed and re-embedded in one batch) but not key_field
  // (409: ids are derived from keys).
  suite::status register_schema(const std::string& tenant, type_schema_ptr schema);
  type_schema_ptr schema(const std::string& tenant, std::string_view type) const;
  std::vector<type_schema_ptr> schemas(const std::string& tenant) const;

  // All or nothing: every record is validated and embedded first (the embedder is
  // called before the write lock is taken); one bad record rejects the batch (400,
  // details name records[i]), an unavailable embedder rejects it with 503. Within a
  // batch a repeated key: the last one wins.
  suite::result<std::vector<upsert_outcome>> upsert(
      const std::string& tenant, const std::string& type,
      const std::vector<const msgpack::object*>& records);

  suite::result<record> get(const std::string& tenant, std::string_view id) const;
  // get() when the type is known (an index of that type named the id): one lookup fewer.
  suite::result<record> get_of_type(const std::string& tenant, std::string_view type,
                                    std::string_view id) const;
  // The record of `type` with natural key `key` (its id is derived from both); absent and
  // deleted are both 404.
  suite::result<record> get_by_key(const std::string& tenant, std::string_view type,
                                   std::string_view key) const;
  suite::status remove(const std::string& tenant, std::string_view id);

  // Both ends must exist (not deleted); the same (from, rel, to) again replaces the
  // edge's properties.
  suite::status add_edge(const std::string& tenant, std::string_view from, std::string_view to,
                         std::string_view rel, const msgpack::object* properties);
  // Visits the edges of `node` in one direction (optionally of one rel) until `visit`
  // returns false. The edge map: {from, to, rel, properties, created_at}.
  void edges(const std::string& tenant, std::string_view node, edge_direction direction,
             std::string_view rel,
             const std::function<bool(const msgpack::object& edge)>& visit) const;

  // Visits live records of a type in id order until `visit` returns false.
  void scan(
      const std::string& tenant, std::string_view type,
      const std::function<bool(std::string_view id, const msgpack::object& record)>& visit) const;
  // Visits ids whose index key for `field` lies in [lower, upper) (fragments from
  // scalar index_encoding; empty lower = from the first, empty upper = to the last).
  // The ids are a superset of the matching records: callers re-check the predicate.
  void index_ids(const std::string& tenant, std::string_view type, std::string_view field,
                 const std::string& lower, const std::string& upper,
                 const std::function<bool(std::string_view id)>& visit) const;

  // Vector search over a type: up to k live records nearest to `text`, nearest first.
  // 503 when the embedder is unavailable.
  suite::result<std::vector<vector_hit>> nearest(const std::string& tenant, std::string_view type,
                                                 std::string_view text, std::size_t k) const;
  const vector_catalog& vectors() const { return *vectors_; }
  // Thread-safe; a few RocksDB property reads, no scan.
  store_stats stats() const;
  const embedder& text_embedder() const { return *embedder_; }

  // Clean stop: flushes and saves the HNSW graphs (so the next start loads them).
  suite::status close();
  // Start-up report: per graph "loaded" or "rebuilt".
  const std::vector<std::string>& startup_report() const { return startup_report_; }

 private:
  record_store() = default;
  suite::status open_graphs();
  // Every stored embedding of tenant/type, for counting and (re)building its graph.
  vector_catalog::embedding_source stored_embeddings(const std::string& tenant,
                                                     const std::string& type) const;
  std::string embedding_text(const type_schema& schema, const msgpack::object& properties) const;

  store_options options_;
  std::shared_ptr<rocksdb::Cache> block_cache_;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  rocksdb::ColumnFamilyHandle* records_ = nullptr;
  rocksdb::ColumnFamilyHandle* indexes_ = nullptr;
  rocksdb::ColumnFamilyHandle* edges_out_ = nullptr;
  rocksdb::ColumnFamilyHandle* edges_in_ = nullptr;
  rocksdb::ColumnFamilyHandle* embeddings_ = nullptr;
  rocksdb::ColumnFamilyHandle* metadata_ = nullptr;
  std::shared_ptr<const embedder> embedder_;
  std::unique_ptr<vector_catalog> vectors_;
  std::vector<std::string> startup_report_;

  mutable std::shared_mutex schemas_mutex_;
  std::map<std::string, std::map<std::string, type_schema_ptr, std::less<>>, std::less<>> schemas_;
  std::mutex write_mutex_;
};

}  // namespace rem
