#include "record_store.hpp"

#include <algorithm>
#include <filesystem>
#include <unordered_map>

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/memtablerep.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include "key_codec.hpp"
#include "suite/envelope.hpp"
#include "suite/log.hpp"

namespace rem {
namespace {

// The key prefix up to and including its n-th NUL: tenant (n=1), tenant+type or
// tenant+node (n=2), tenant+type+field (n=3). Used for prefix bloom filters, so a scan
// of one type or one node's edges skips files that hold none of it.
class nul_prefix_transform final : public rocksdb::SliceTransform {
 public:
  explicit nul_prefix_transform(int parts)
      : parts_(parts), name_("rem.nul_prefix." + std::to_string(parts)) {}
  const char* Name() const override { return name_.c_str(); }
  rocksdb::Slice Transform(const rocksdb::Slice& key) const override {
    return {key.data(), prefix_length(key)};
  }
  bool InDomain(const rocksdb::Slice& key) const override { return prefix_length(key) > 0; }

 private:
  std::size_t prefix_length(const rocksdb::Slice& key) const {
    int seen = 0;
    for (std::size_t i = 0; i < key.size(); ++i) {
      if (key[i] == '\0' && ++seen == parts_) return i + 1;
    }
    return 0;
  }
  int parts_;
  std::string name_;
};

// Collects a write batch's entries and hands them to RocksDB sorted by column family and
// key. The families opened with insert hints (see `family` in open) start each memtable
// insert from the previous insert of the same prefix, so keys in order cost a few
// comparisons near that spot where keys in random order (ids are hashes) each search the
// skiplist from the top. The order is stable: entries for one key keep the order they
// were added in, so a Delete then a Put of the same index key still ends with the Put.
class ordered_batch {
 public:
  void put(rocksdb::ColumnFamilyHandle* family, std::string key, std::string value) {
    entries_.push_back({family->GetID(), family, std::move(key), std::move(value), false});
  }
  void remove(rocksdb::ColumnFamilyHandle* family, std::string key) {
    entries_.push_back({family->GetID(), family, std::move(key), {}, true});
  }
  rocksdb::WriteBatch build() const {
    std::vector<const entry*> order;
    order.reserve(entries_.size());
    for (const auto& e : entries_) order.push_back(&e);
    // Ties broken by position in entries_: a stable order without moving the strings.
    std::sort(order.begin(), order.end(), [](const entry* a, const entry* b) {
      if (a->family_id != b->family_id) return a->family_id < b->family_id;
      if (int c = a->key.compare(b->key); c != 0) return c < 0;
      return a < b;
    });
    rocksdb::WriteBatch batch;
    for (const auto* e : order) {
      if (e->remove)
        batch.Delete(e->family, e->key);
      else
        batch.Put(e->family, e->key, e->value);
    }
    return batch;
  }

 private:
  struct entry {
    std::uint32_t family_id;  // the family's GetID(), kept out of the sort's virtual calls
    rocksdb::ColumnFamilyHandle* family;
    std::string key;
    std::string value;
    bool remove;
  };
  std::vector<entry> entries_;
};

// What a range read does with the table blocks it reads: `keep` them in the block cache
// (index and edge ranges: small, and read again), or `bypass` it (whole-type scans and
// start-up loads: caching every block costs a scan a fifth of its time and evicts the
// blocks point reads need).
enum class block_caching { keep, bypass };

// Visits the entries of `family` with keys in [start, stop) in key order, until
// visit(key, value) returns false. Returns the iterator's status: not ok when a read failed.
template <class Visit>
rocksdb::Status visit_range(rocksdb::DB& db, rocksdb::ColumnFamilyHandle* family,
                            std::string_view start, const std::string& stop, block_caching caching,
                            Visit&& visit) {
  rocksdb::ReadOptions read;
  read.fill_cache = caching == block_caching::keep;
  rocksdb::Slice bound(stop);
  read.iterate_upper_bound = &bound;
  std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(read, family));
  for (it->Seek(rocksdb::Slice(start.data(), start.size())); it->Valid(); it->Next()) {
    if (!visit(it->key(), it->value())) break;
  }
  return it->status();
}

suite::error_info storage_error(const rocksdb::Status& s) {
  return suite::make_error(500, "storage_error", s.ToString());
}

// The exclusive upper bound of all keys starting with `prefix`.
std::string prefix_end(std::string prefix) {
  while (!prefix.empty() && static_cast<unsigned char>(prefix.back()) == 0xff) prefix.pop_back();
  if (!prefix.empty())
    prefix.back() = static_cast<char>(static_cast<unsigned char>(prefix.back()) + 1);
  return prefix;
}

bool valid_tenant(const std::string& tenant) {
  return !tenant.empty() && tenant.find('\0') == std::string::npos;
}

suite::error_info not_found(std::string what) {
  return suite::make_error(404, "not_found", std::move(what));
}

std::string pack_record(std::string_view id, std::string_view type, std::string_view key,
                        std::int64_t created_at, std::int64_t modified_at,
                        std::optional<std::int64_t> deleted_at, const msgpack::object& properties) {
  msgpack::sbuffer buffer;
  suite::msgpack_packer p(buffer);
  p.pack_map(7);
  suite::pack_string(p, "id");
  suite::pack_string(p, id);
  suite::pack_string(p, "type");
  suite::pack_string(p, type);
  suite::pack_string(p, "key");
  suite::pack_string(p, key);
  suite::pack_string(p, "created_at");
  p.pack_int64(created_at);
  suite::pack_string(p, "modified_at");
  p.pack_int64(modified_at);
  suite::pack_string(p, "deleted_at");
  if (deleted_at)
    p.pack_int64(*deleted_at);
  else
    p.pack_nil();
  suite::pack_string(p, "properties");
  p.pack(properties);
  return {buffer.data(), buffer.size()};
}

bool is_deleted(const msgpack::object& record) {
  const auto* deleted = suite::find_field(record, "deleted_at");
  return deleted && deleted->type != msgpack::type::NIL;
}

// The record stored as `bytes`, or not found when it is soft-deleted. unpack copies every
// string into the record's zone: the record outlives `bytes`.
suite::result<record> live_record(std::string_view id, const rocksdb::Slice& bytes) {
  record r{std::string(id), suite::unpack_stored(bytes.data(), bytes.size())};
  if (is_deleted(r.object())) return not_found("record " + std::string(id) + " is deleted");
  return r;
}

// The index keys of a record's indexed fields (scalar values only).
std::vector<std::string> index_keys(const std::string& tenant, const type_schema& schema,
                                    std::string_view id, const msgpack::object& properties) {
  std::vector<std::string> keys;
  for (const auto& field : schema.indexed_fields) {
    const auto* value = record_field_in_properties(properties, field);
    if (!value) continue;
    auto encoded = index_encoding(scalar_of(*value));
    if (!encoded) continue;
    auto key = index_field_prefix(tenant, schema.name, field);
    key += *encoded;
    key.push_back('\0');
    key.append(id);
    keys.push_back(std::move(key));
  }
  return keys;
}

}  // namespace

const msgpack::object* record_field_in_properties(const msgpack::object& properties,
                                                  std::string_view path) {
  const msgpack::object* current = &properties;
  while (true) {
    auto dot = path.find('.');
    auto part = path.substr(0, dot);
    current = suite::find_field(*current, part);
    if (!current || dot == std::string_view::npos) return current;
    path.remove_prefix(dot + 1);
  }
}

const msgpack::object* record_field(const msgpack::object& record, std::string_view field) {
  if (field == "id" || field == "type" || field == "key" || field == "created_at" ||
      field == "modified_at" || field == "deleted_at" || field == "properties") {
    return suite::find_field(record, field);
  }
  const auto* properties = suite::find_field(record, "properties");
  return properties ? record_field_in_properties(*properties, field) : nullptr;
}

suite::result<std::unique_ptr<record_store>> record_store::open(store_options options) {
  std::unique_ptr<record_store> store(new record_store());
  if (options.hnsw.dir.empty()) options.hnsw.dir = options.path + "/hnsw";
  if (options.text_embedder) options.hnsw.dimension = options.text_embedder->dimension();
  store->options_ = options;
  std::error_code ec;
  std::filesystem::create_directories(options.path, ec);
  if (ec)
    return suite::make_error(500, "storage_error",
                             "cannot create " + options.path + ": " + ec.message());

  auto cache = rocksdb::NewLRUCache(options.block_cache_bytes);
  store->block_cache_ = cache;
  // Each family's memtable is at most half of the budget shared by all of them.
  const std::size_t memtable_size = std::max<std::size_t>(options.memtable_bytes / 2, 256u << 10);
  // insert_hints: the family's writes come sorted (see ordered_batch), so its memtable starts each
  // insert from the previous one of the same prefix: a few comparisons instead of a skiplist search
  // from the top. About 250 bytes of memtable per prefix written, so only for families whose
  // prefixes are few (tenant+type, tenant+type+field). Never DeleteRange on such a family:
  // RocksDB 7.8 shares the hints between a memtable's point and range tombstone skiplists, which
  // trips its assertions and misplaces keys (facebook/rocksdb#5118, fixed in 9.2 by #12558).
  auto family = [&](int prefix_parts, bool insert_hints = false) {
    rocksdb::ColumnFamilyOptions cf;
    rocksdb::BlockBasedTableOptions table;
    table.block_cache = cache;
    table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
    table.whole_key_filtering = true;
    // Each table file's index and bloom filter stay with its open reader, outside the
    // block cache: a Get then takes one cache lookup (the data block) per file instead of
    // three, and nothing evicts them. They cost about 8 MB per million entities over all
    // families (10 bits a key, one index entry per 4 KB block), reported by
    // suite_rem_store_rocksdb_bytes{part="table_readers"}. Kept in the cache, whole blocks
    // thrashed it at 1M entities and partitioned ones cost a third of every Get (both
    // measured with rem-bench).
    table.cache_index_and_filter_blocks = false;
    // A hash index inside each data block: a point lookup finds its key without the
    // block's binary search.
    table.data_block_index_type = rocksdb::BlockBasedTableOptions::kDataBlockBinaryAndHash;
    cf.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
    if (prefix_parts > 0)
      cf.prefix_extractor = std::make_shared<nul_prefix_transform>(prefix_parts);
    if (insert_hints) cf.memtable_insert_with_hint_prefix_extractor = cf.prefix_extractor;
    cf.compression = rocksdb::kLZ4Compression;
    cf.write_buffer_size = memtable_size;
    return cf;
  };
  std::vector<rocksdb::ColumnFamilyDescriptor> families{
      {rocksdb::kDefaultColumnFamilyName, family(0)},
      {"records", family(2, true)},
      {"indexes", family(3, true)},
      {"edges_out", family(2)},
      {"edges_in", family(2)},
      {"embeddings", family(2)},
      {"metadata", family(0)}};
  // A get probes the memtables before the table files. A whole-key bloom filter in each
  // records memtable (2 % of its size, from its own arena) answers "not here" with a few
  // bit tests instead of a skiplist search: most gets, once a memtable has flushed.
  auto& records_options = families[1].options;
  records_options.memtable_prefix_bloom_size_ratio = 0.02;
  records_options.memtable_whole_key_filtering = true;
  rocksdb::DBOptions db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  db_options.max_background_jobs = 2;
  db_options.db_write_buffer_size = options.memtable_bytes;
  // RocksDB opens table files at start with this many threads per column family: the
  // default 16 makes 128 short-lived threads for our 8 families, most of the start time.
  db_options.max_file_opening_threads = 1;
  db_options.keep_log_file_num = 2;
  db_options.info_log_level = rocksdb::WARN_LEVEL;
  // A WAL past this forces the families holding its oldest records to flush, so a
  // rarely written family does not keep every old WAL (and a long replay) alive.
  db_options.max_total_wal_size = 4 * options.memtable_bytes;
  // Each file being written buffers up to this much (default 1 MB each).
  db_options.writable_file_max_buffer_size = 256u << 10;
  // Stores written before ids carried their type's tag kept an id -> type family, `keys`;
  // their ids cannot be found by tag, so such a store is refused, not misread.
  std::vector<std::string> existing;
  if (rocksdb::DB::ListColumnFamilies(db_options, options.path, &existing).ok() &&
      std::find(existing.begin(), existing.end(), "keys") != existing.end())
    return suite::make_error(500, "storage_layout",
                             "the RocksDB database at " + options.path +
                                 " was written by an older rem-store (ids without their type's "
                                 "tag, and a 'keys' column family); use an empty --data-dir");
  rocksdb::DB* db = nullptr;
  auto s = rocksdb::DB::Open(db_options, options.path, families, &store->handles_, &db);
  if (!s.ok()) return storage_error(s);
  store->db_.reset(db);
  store->records_ = store->handles_[1];
  store->indexes_ = store->handles_[2];
  store->edges_out_ = store->handles_[3];
  store->edges_in_ = store->handles_[4];
  store->embeddings_ = store->handles_[5];
  store->metadata_ = store->handles_[6];
  store->embedder_ = options.text_embedder
                         ? options.text_embedder
                         : std::make_shared<hashing_embedder>(options.hnsw.dimension);
  store->vectors_ = std::make_unique<vector_catalog>(options.hnsw);

  // Schemas of every tenant: metadata keys tenant \0 "schema" \0 type.
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator({}, store->metadata_));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    auto key = it->key().ToString();
    auto first = key.find('\0');
    if (first == std::string::npos || key.compare(first + 1, 7, std::string("schema\0", 7)) != 0)
      continue;
    auto tenant = key.substr(0, first);
    auto handle = suite::unpack_stored(it->value().data(), it->value().size());
    auto parsed = parse_type_schema(handle.get());
    if (!parsed)
      return suite::make_error(500, "storage_error",
                               "stored schema unreadable: " + parsed.error().message);
    store->schemas_[tenant][(*parsed)->name] = *parsed;
  }
  if (auto opened = store->open_graphs(); !opened) return opened.error();
  return store;
}

vector_catalog::embedding_source record_store::stored_embeddings(const std::string& tenant,
                                                                 const std::string& type) const {
  return [this, prefix = type_prefix(tenant, type)](const auto& visit) {
    std::vector<float> vector(options_.hnsw.dimension);
    (void)visit_range(
        *db_, embeddings_, prefix, prefix_end(prefix), block_caching::bypass,
        [&](const rocksdb::Slice& key, const rocksdb::Slice& value) {
          auto label = id_number(std::string_view(key.data() + key.size() - id_length, id_length));
          if (label && value.size() == vector.size() * sizeof(float)) {
            std::memcpy(vector.data(), value.data(), value.size());
            visit(*label, vector.data());
          }
          return true;
        });
  };
}

suite::status record_store::open_graphs() {
  bool trust_files = vectors_->consume_clean_marker();
  for (const auto& [tenant, types] : schemas_) {
    for (const auto& [type, schema] : types) {
      if (schema->embedding_fields.empty()) continue;
      auto each = stored_embeddings(tenant, type);
      std::size_t count = 0;
      each([&](std::uint64_t, const float*) { ++count; });
      auto outcome = vectors_->open_graph(tenant, type, count, each, trust_files);
      startup_report_.push_back(tenant + "/" + type + ": " + outcome + " (" +
                                std::to_string(count) + " vectors)");
    }
  }
  return suite::ok();
}

record_store::~record_store() {
  if (db_) {
    for (auto* handle : handles_) db_->DestroyColumnFamilyHandle(handle);
    handles_.clear();
    db_.reset();
  }
}

suite::status record_store::close() {
  std::lock_guard lock(write_mutex_);
  if (!db_) return suite::ok();
  rocksdb::FlushOptions flush;
  db_->Flush(flush, handles_);
  return vectors_->save_all();
}

std::string record_store::embedding_text(const type_schema& schema,
                                         const msgpack::object& properties) const {
  std::string text;
  for (const auto& field : schema.embedding_fields) {
    const auto* value = record_field_in_properties(properties, field);
    if (!value || value->type != msgpack::type::STR) continue;
    if (!text.empty()) text.push_back('\n');
    text.append(value->via.str.ptr, value->via.str.size);
  }
  return text;
}

suite::status record_store::register_schema(const std::string& tenant, type_schema_ptr schema) {
  if (!valid_tenant(tenant))
    return suite::make_error(400, "bad_tenant", "tenant must be non-empty");
  std::lock_guard lock(write_mutex_);
  auto previous = this->schema(tenant, schema->name);
  if (previous && previous->key_field != schema->key_field) {
    return suite::make_error(409, "key_field_change",
                             "type " + schema->name + " already has key_field " +
                                 previous->key_field +
                                 "; ids derive from keys, so it cannot change",
                             {{"key_field", "must stay " + previous->key_field}});
  }
  rocksdb::WriteBatch batch;
  batch.Put(metadata_, schema_key(tenant, schema->name), schema->registration);
  bool reembed = false;
  if (previous && (previous->indexed_fields != schema->indexed_fields ||
                   previous->embedding_fields != schema->embedding_fields)) {
    // Re-derive every index entry and embedding of the type in the same batch.
    // Index entries one by one, not by DeleteRange: `indexes` has insert hints (see open).
    for (const auto& field : previous->indexed_fields) {
      auto prefix = index_field_prefix(tenant, schema->name, field);
      auto listed = visit_range(*db_, indexes_, prefix, prefix_end(prefix), block_caching::bypass,
                                [&](const rocksdb::Slice& key, const rocksdb::Slice&) {
                                  batch.Delete(indexes_, key);
                                  return true;
                                });
      if (!listed.ok()) return storage_error(listed);
    }
    auto type_key = type_prefix(tenant, schema->name);
    batch.DeleteRange(embeddings_, type_key, prefix_end(type_key));
    std::vector<std::string> ids, texts;
    scan(tenant, schema->name, [&](std::string_view id, const msgpack::object& record) {
      const auto* properties = suite::find_field(record, "properties");
      if (!properties) return true;
      for (auto& key : index_keys(tenant, *schema, id, *properties)) batch.Put(indexes_, key, "");
      auto text = embedding_text(*schema, *properties);
      if (!text.empty()) {
        ids.emplace_back(id);
        texts.push_back(std::move(text));
      }
      return true;
    });
    std::vector<float> vectors(texts.size() * embedder_->dimension());
    if (auto embedded = embedder_->embed(std::vector<std::string_view>(texts.begin(), texts.end()),
                                         vectors.data());
        !embedded) {
      return embedded;
    }
    for (std::size_t i = 0; i < ids.size(); ++i) {
      batch.Put(embeddings_, record_key(tenant, schema->name, ids[i]),
                rocksdb::Slice(reinterpret_cast<const char*>(&vectors[i * embedder_->dimension()]),
                               embedder_->dimension() * sizeof(float)));
    }
    reembed = true;
  }
  rocksdb::WriteOptions write;
  write.sync = options_.sync_writes;
  auto s = db_->Write(write, &batch);
  if (!s.ok()) return storage_error(s);
  {
    std::unique_lock schemas_lock(schemas_mutex_);
    schemas_[tenant][schema->name] = schema;
  }
  if (schema->embedding_fields.empty()) {
    vectors_->drop_graph(tenant, schema->name);  // a type without embeddings needs no graph
  } else if (reembed || !previous) {
    auto each = stored_embeddings(tenant, schema->name);
    std::size_t count = 0;
    each([&](std::uint64_t, const float*) { ++count; });
    (void)vectors_->open_graph(tenant, schema->name, count, each, false);
  }
  return suite::ok();
}

type_schema_ptr record_store::schema(const std::string& tenant, std::string_view type) const {
  std::shared_lock lock(schemas_mutex_);
  auto t = schemas_.find(tenant);
  if (t == schemas_.end()) return nullptr;
  auto s = t->second.find(type);
  return s == t->second.end() ? nullptr : s->second;
}

std::vector<type_schema_ptr> record_store::schemas(const std::string& tenant) const {
  std::vector<type_schema_ptr> out;
  std::shared_lock lock(schemas_mutex_);
  auto t = schemas_.find(tenant);
  if (t == schemas_.end()) return out;
  for (const auto& [name, schema] : t->second) out.push_back(schema);
  return out;
}

suite::result<std::vector<upsert_outcome>> record_store::upsert(
    const std::string& tenant, const std::string& type,
    const std::vector<const msgpack::object*>& records) {
  if (!valid_tenant(tenant))
    return suite::make_error(400, "bad_tenant", "tenant must be non-empty");
  auto schema = this->schema(tenant, type);
  if (!schema) return not_found("unknown type " + type + " (register its schema first)");
  std::vector<validated_record> valid;
  valid.reserve(records.size());
  for (std::size_t i = 0; i < records.size(); ++i) {
    auto checked = validate_record(*schema, *records[i]);
    if (!checked) {
      auto error = checked.error();
      if (records.size() > 1) {
        for (auto& detail : error.details)
          detail.field = "records[" + std::to_string(i) + "]." + detail.field;
      }
      return error;
    }
    valid.push_back(std::move(*checked));
  }

  // Embeddings first, outside the write lock: a remote embedder may take a while.
  const auto dimension = embedder_->dimension();
  std::vector<std::string> texts(valid.size());
  std::vector<std::string_view> to_embed;
  if (!schema->embedding_fields.empty()) {
    for (std::size_t i = 0; i < valid.size(); ++i) {
      texts[i] = embedding_text(*schema, valid[i].properties.object);
      if (!texts[i].empty()) to_embed.push_back(texts[i]);
    }
  }
  std::vector<float> embedded(to_embed.size() * dimension);
  if (!to_embed.empty()) {
    if (auto done = embedder_->embed(to_embed, embedded.data()); !done) return done.error();
  }
  std::size_t next_vector = 0;

  std::lock_guard lock(write_mutex_);
  auto now = suite::unix_ms_now();
  ordered_batch batch;
  std::vector<upsert_outcome> outcomes;
  outcomes.reserve(valid.size());
  // Records written earlier in this batch, so a repeated key sees its predecessor.
  std::unordered_map<std::string, std::string> written;
  std::vector<std::pair<std::uint64_t, std::vector<float>>> vector_updates;
  std::vector<std::uint64_t> vector_removals;
  std::string old_bytes;
  for (std::size_t position = 0; position < valid.size(); ++position) {
    auto& item = valid[position];
    upsert_outcome outcome{record_id(tenant, type, item.key), item.key, true};
    auto key = record_key(tenant, type, outcome.id);
    std::int64_t created_at = now;
    auto in_batch = written.find(outcome.id);
    bool had_old = false;
    if (in_batch != written.end()) {
      old_bytes = in_batch->second;
      had_old = true;
    } else {
      // A new record's key is in no memtable or table file: their bloom filters say so.
      auto s = db_->Get({}, records_, key, &old_bytes);
      if (!s.ok() && !s.IsNotFound()) return storage_error(s);
      had_old = s.ok();
    }
    if (had_old) {
      auto old = suite::unpack_stored(old_bytes.data(), old_bytes.size());
      if (auto old_key = suite::string_field(old.get(), "key"); old_key != item.key) {
        return suite::make_error(409, "id_collision",
                                 "key '" + item.key + "' of type " + std::string(type) +
                                     " hashes to id " + outcome.id + ", which key '" +
                                     std::string(old_key.value_or("")) +
                                     "' already holds; nothing in this batch was written",
                                 {{"key", item.key}});
      }
      outcome.created = false;
      if (auto c = suite::int_field(old.get(), "created_at")) created_at = *c;
      if (const auto* old_properties = suite::find_field(old.get(), "properties");
          old_properties && !is_deleted(old.get())) {
        for (auto& index_key : index_keys(tenant, *schema, outcome.id, *old_properties))
          batch.remove(indexes_, std::move(index_key));
      }
    }
    const auto& properties = item.properties.object;
    auto bytes = pack_record(outcome.id, type, item.key, created_at, now, std::nullopt, properties);
    batch.put(records_, key, bytes);
    for (auto& index_key : index_keys(tenant, *schema, outcome.id, properties))
      batch.put(indexes_, std::move(index_key), {});
    if (!schema->embedding_fields.empty()) {
      auto label = *id_number(outcome.id);
      if (texts[position].empty()) {
        batch.remove(embeddings_, key);
        vector_removals.push_back(label);
      } else {
        const float* start = &embedded[(next_vector++) * dimension];
        std::vector<float> vector(start, start + dimension);
        batch.put(embeddings_, key,
                  std::string(reinterpret_cast<const char*>(vector.data()),
                              vector.size() * sizeof(float)));
        vector_updates.emplace_back(label, std::move(vector));
      }
    }
    written[outcome.id] = std::move(bytes);
    outcomes.push_back(std::move(outcome));
  }
  rocksdb::WriteOptions write;
  write.sync = options_.sync_writes;
  auto ordered = batch.build();
  auto s = db_->Write(write, &ordered);
  if (!s.ok()) return storage_error(s);
  for (auto label : vector_removals) vectors_->remove(tenant, type, label);
  for (auto& [label, vector] : vector_updates) vectors_->upsert(tenant, type, label, vector.data());
  return outcomes;
}

suite::result<record> record_store::get(const std::string& tenant, std::string_view id) const {
  if (!valid_id(id))
    return suite::make_error(400, "bad_id", "an id is 16 lowercase hex digits",
                             {{"id", "malformed"}});
  // The id's top byte is its type's tag: only the tenant's types with that tag can hold
  // it (almost always one). A candidate without the record costs a bloom filter probe.
  auto tag = id_type_tag(*id_number(id));
  std::shared_lock lock(schemas_mutex_);
  if (auto types = schemas_.find(tenant); types != schemas_.end()) {
    for (const auto& [type, schema] : types->second) {
      if (schema->id_tag != tag) continue;
      rocksdb::PinnableSlice bytes;
      auto s = db_->Get({}, records_, record_key(tenant, type, id), &bytes);
      if (s.IsNotFound()) continue;
      if (!s.ok()) return storage_error(s);
      return live_record(id, bytes);
    }
  }
  return not_found("no record " + std::string(id));
}

suite::result<record> record_store::get_of_type(const std::string& tenant, std::string_view type,
                                                std::string_view id) const {
  rocksdb::PinnableSlice bytes;
  auto s = db_->Get({}, records_, record_key(tenant, type, id), &bytes);
  if (s.IsNotFound()) return not_found("no record " + std::string(id));
  if (!s.ok()) return storage_error(s);
  return live_record(id, bytes);
}

suite::result<record> record_store::get_by_key(const std::string& tenant, std::string_view type,
                                               std::string_view key) const {
  if (!schema(tenant, type)) return not_found("unknown type " + std::string(type));
  auto found = get_of_type(tenant, type, record_id(tenant, type, key));
  if (!found && found.error().status == 404)
    return not_found("no live " + std::string(type) + " with key " + std::string(key));
  return found;
}

suite::status record_store::remove(const std::string& tenant, std::string_view id) {
  std::lock_guard lock(write_mutex_);
  auto existing = get(tenant, id);
  if (!existing) return existing.error();
  const auto& old = existing->object();
  auto type = std::string(suite::string_field(old, "type").value_or(""));
  auto schema = this->schema(tenant, type);
  const auto* properties = suite::find_field(old, "properties");
  if (!schema || !properties)
    return suite::make_error(500, "storage_error", "record without schema or properties");
  auto now = suite::unix_ms_now();
  rocksdb::WriteBatch batch;
  auto key = record_key(tenant, type, id);
  batch.Put(records_, key,
            pack_record(id, type, suite::string_field(old, "key").value_or(""),
                        suite::int_field(old, "created_at").value_or(now), now, now, *properties));
  for (auto& index_key : index_keys(tenant, *schema, id, *properties))
    batch.Delete(indexes_, index_key);
  batch.Delete(embeddings_, key);
  rocksdb::WriteOptions write;
  write.sync = options_.sync_writes;
  auto s = db_->Write(write, &batch);
  if (!s.ok()) return storage_error(s);
  vectors_->remove(tenant, type, *id_number(id));
  return suite::ok();
}

suite::status record_store::add_edge(const std::string& tenant, std::string_view from,
                                     std::string_view to, std::string_view rel,
                                     const msgpack::object* properties) {
  if (rel.empty() || rel.size() > 128 || rel.find('\0') != std::string_view::npos) {
    return suite::make_error(400, "bad_edge", "rel must be 1-128 characters",
                             {{"rel", "must be 1-128 characters"}});
  }
  if (properties && properties->type != msgpack::type::MAP &&
      properties->type != msgpack::type::NIL) {
    return suite::make_error(400, "bad_edge", "properties must be an object",
                             {{"properties", "must be an object"}});
  }
  std::lock_guard lock(write_mutex_);
  for (auto end : {from, to}) {
    auto found = get(tenant, end);
    if (!found) {
      auto error = found.error();
      error.details.push_back({end == from ? "from" : "to", error.message});
      return error;
    }
  }
  msgpack::sbuffer buffer;
  suite::msgpack_packer p(buffer);
  p.pack_map(5);
  suite::pack_string(p, "from");
  suite::pack_string(p, from);
  suite::pack_string(p, "to");
  suite::pack_string(p, to);
  suite::pack_string(p, "rel");
  suite::pack_string(p, rel);
  suite::pack_string(p, "properties");
  if (properties && properties->type == msgpack::type::MAP)
    p.pack(*properties);
  else
    p.pack_map(0);
  suite::pack_string(p, "created_at");
  p.pack_int64(suite::unix_ms_now());
  rocksdb::Slice value(buffer.data(), buffer.size());
  rocksdb::WriteBatch batch;
  batch.Put(edges_out_, edge_key(tenant, from, rel, to), value);
  batch.Put(edges_in_, edge_key(tenant, to, rel, from), value);
  rocksdb::WriteOptions write;
  write.sync = options_.sync_writes;
  auto s = db_->Write(write, &batch);
  return s.ok() ? suite::ok() : suite::status(storage_error(s));
}

void record_store::edges(const std::string& tenant, std::string_view node, edge_direction direction,
                         std::string_view rel,
                         const std::function<bool(const msgpack::object& edge)>& visit) const {
  auto prefix = edge_node_prefix(tenant, node);
  if (!rel.empty()) {
    prefix.append(rel);
    prefix.push_back('\0');
  }
  (void)visit_range(*db_, direction == edge_direction::out ? edges_out_ : edges_in_, prefix,
                    prefix_end(prefix), block_caching::keep,
                    [&](const rocksdb::Slice&, const rocksdb::Slice& value) {
                      auto handle = suite::unpack_stored(value.data(), value.size());
                      return visit(handle.get());
                    });
}

void record_store::scan(
    const std::string& tenant, std::string_view type,
    const std::function<bool(std::string_view id, const msgpack::object& record)>& visit) const {
  auto prefix = type_prefix(tenant, type);
  // One zone for the whole scan, cleared per row: the record is only lent to `visit`.
  msgpack::zone zone(4096);
  (void)visit_range(*db_, records_, prefix, prefix_end(prefix), block_caching::bypass,
                    [&](const rocksdb::Slice& key, const rocksdb::Slice& value) {
                      std::string_view id(key.data() + prefix.size(), key.size() - prefix.size());
                      zone.clear();
                      auto object = msgpack::unpack(zone, value.data(), value.size());
                      return is_deleted(object) || visit(id, object);
                    });
}

void record_store::index_ids(const std::string& tenant, std::string_view type,
                             std::string_view field, const std::string& lower,
                             const std::string& upper,
                             const std::function<bool(std::string_view id)>& visit) const {
  auto base = index_field_prefix(tenant, type, field);
  auto start = base + lower;
  auto stop = upper.empty() ? prefix_end(base) : base + upper;
  (void)visit_range(
      *db_, indexes_, start, stop, block_caching::keep,
      [&](const rocksdb::Slice& key, const rocksdb::Slice&) {
        return key.size() < base.size() + id_length + 1 ||
               visit(std::string_view(key.data() + key.size() - id_length, id_length));
      });
}

store_stats record_store::stats() const {
  store_stats out;
  db_->GetAggregatedIntProperty(rocksdb::DB::Properties::kCurSizeAllMemTables, &out.memtable_bytes);
  out.block_cache_bytes = block_cache_->GetUsage();
  db_->GetAggregatedIntProperty(rocksdb::DB::Properties::kEstimateTableReadersMem,
                                &out.table_reader_bytes);
  const std::pair<const char*, rocksdb::ColumnFamilyHandle*> families[] = {
      {"records", records_},
      {"indexes", indexes_},
      {"edges_out", edges_out_},
      {"edges_in", edges_in_},
      {"embeddings", embeddings_}};
  for (const auto& [name, family] : families) {
    std::uint64_t keys = 0;
    db_->GetIntProperty(family, rocksdb::DB::Properties::kEstimateNumKeys, &keys);
    out.estimated_entries.emplace_back(name, keys);
  }
  out.hnsw_elements = vectors_->total_size();
  return out;
}

suite::result<std::vector<vector_hit>> record_store::nearest(const std::string& tenant,
                                                             std::string_view type,
                                                             std::string_view text,
                                                             std::size_t k) const {
  std::vector<float> query(embedder_->dimension());
  if (auto done = embedder_->embed_one(text, query.data()); !done) return done.error();
  return vectors_->search(tenant, std::string(type), query.data(), k);
}

}  // namespace rem
