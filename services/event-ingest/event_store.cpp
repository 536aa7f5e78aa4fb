#include "event_store.hpp"

#include <algorithm>
#include <unordered_map>

#include <rocksdb/cache.h>
#include <rocksdb/convenience.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/perf_level.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include "money.hpp"
#include "suite/log.hpp"

namespace event_ingest {
namespace {

constexpr std::string_view stats_key = "m:stats";
// A query examines at most this many index entries, then hands back a cursor, so one
// request with a rare filter cannot scan the whole log.
constexpr std::size_t scan_budget = 20000;

void append_be64(std::string& out, std::uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>((v >> shift) & 0xff));
}
std::uint64_t read_be64(std::string_view in) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < 8 && i < in.size(); ++i)
    v = (v << 8) | static_cast<unsigned char>(in[i]);
  return v;
}
std::string event_key(std::uint64_t seq) {
  std::string k("e");
  append_be64(k, seq);
  return k;
}
std::string session_index_prefix(std::string_view session_id) {
  std::string k("s");
  k.append(session_id).push_back('\0');
  return k;
}
std::string dedup_key(std::string_view event_id) { return "d" + std::string(event_id); }
std::string session_key(std::string_view session_id) { return "S" + std::string(session_id); }

suite::error_info storage_error(const rocksdb::Status& s) {
  return suite::make_error(503, "storage_error", "RocksDB: " + s.ToString());
}

std::string encode_stats(const stats_counters& s) {
  msgpack::sbuffer b;
  suite::msgpack_packer p(b);
  p.pack_array(8);
  p.pack_int64(s.total_events);
  p.pack_int64(s.total_sessions);
  p.pack_int64(s.active_sessions);
  p.pack_int64(s.tokens_in);
  p.pack_int64(s.tokens_out);
  p.pack_int64(s.cost_nano);
  p.pack_int64(s.duplicates);
  p.pack_uint64(s.last_seq);
  return {b.data(), b.size()};
}

std::optional<stats_counters> decode_stats(std::string_view bytes) {
  try {
    auto handle = suite::unpack_stored(bytes.data(), bytes.size());
    const auto& a = handle.get();
    if (a.type != msgpack::type::ARRAY || a.via.array.size != 8) return std::nullopt;
    stats_counters s;
    s.total_events = a.via.array.ptr[0].as<std::int64_t>();
    s.total_sessions = a.via.array.ptr[1].as<std::int64_t>();
    s.active_sessions = a.via.array.ptr[2].as<std::int64_t>();
    s.tokens_in = a.via.array.ptr[3].as<std::int64_t>();
    s.tokens_out = a.via.array.ptr[4].as<std::int64_t>();
    s.cost_nano = a.via.array.ptr[5].as<std::int64_t>();
    s.duplicates = a.via.array.ptr[6].as<std::int64_t>();
    s.last_seq = a.via.array.ptr[7].as<std::uint64_t>();
    return s;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

void pack_optional(suite::msgpack_packer& p, const std::optional<std::string>& v) {
  if (v)
    suite::pack_string(p, *v);
  else
    p.pack_nil();
}

std::string encode_session(const session_record& s) {
  msgpack::sbuffer b;
  suite::msgpack_packer p(b);
  p.pack_array(11);
  suite::pack_string(p, s.session_id);
  suite::pack_string(p, s.agent_type);
  pack_optional(p, s.project);
  pack_optional(p, s.branch);
  p.pack(s.active);
  p.pack_int64(s.started_at_ms);
  p.pack_int64(s.last_event_at_ms);
  p.pack_int64(s.event_count);
  p.pack_int64(s.tokens_in);
  p.pack_int64(s.tokens_out);
  p.pack_int64(s.cost_nano);
  return {b.data(), b.size()};
}

std::optional<session_record> decode_session(std::string_view bytes) {
  try {
    auto handle = suite::unpack_stored(bytes.data(), bytes.size());
    const auto& a = handle.get();
    if (a.type != msgpack::type::ARRAY || a.via.array.size != 11) return std::nullopt;
    const auto* f = a.via.array.ptr;
    auto opt = [](const msgpack::object& o) -> std::optional<std::string> {
      if (o.type == msgpack::type::NIL) return std::nullopt;
      return o.as<std::string>();
    };
    session_record s;
    s.session_id = f[0].as<std::string>();
    s.agent_type = f[1].as<std::string>();
    s.project = opt(f[2]);
    s.branch = opt(f[3]);
    s.active = f[4].as<bool>();
    s.started_at_ms = f[5].as<std::int64_t>();
    s.last_event_at_ms = f[6].as<std::int64_t>();
    s.event_count = f[7].as<std::int64_t>();
    s.tokens_in = f[8].as<std::int64_t>();
    s.tokens_out = f[9].as<std::int64_t>();
    s.cost_nano = f[10].as<std::int64_t>();
    return s;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// The fields a query filters on, read from a stored event.
struct event_fields {
  std::string_view agent_type, event_type;
  std::int64_t created_at_ms = 0;
};

std::optional<event_fields> read_fields(std::string_view packed, msgpack::object_handle& handle) {
  try {
    handle = suite::unpack_stored(packed.data(), packed.size());
  } catch (const std::exception&) {
    return std::nullopt;
  }
  const auto& map = handle.get();
  event_fields f;
  f.agent_type = suite::string_field(map, "agent_type").value_or("");
  f.event_type = suite::string_field(map, "event_type").value_or("");
  f.created_at_ms = suite::int_field(map, "created_at_ms").value_or(0);
  return f;
}

bool matches(const event_query& q, const event_fields& f) {
  if (q.agent_type && f.agent_type != *q.agent_type) return false;
  if (q.event_type && f.event_type != *q.event_type) return false;
  if (q.since_ms && f.created_at_ms < *q.since_ms) return false;
  if (q.until_ms && f.created_at_ms > *q.until_ms) return false;
  return true;
}

}  // namespace

void pack_session(suite::msgpack_packer& p, const session_record& s, std::size_t extra_fields) {
  p.pack_map(static_cast<std::uint32_t>(12 + extra_fields));
  suite::pack_string(p, "session_id");
  suite::pack_string(p, s.session_id);
  suite::pack_string(p, "agent_type");
  suite::pack_string(p, s.agent_type);
  suite::pack_string(p, "project");
  pack_optional(p, s.project);
  suite::pack_string(p, "branch");
  pack_optional(p, s.branch);
  suite::pack_string(p, "status");
  suite::pack_string(p, s.active ? "active" : "ended");
  suite::pack_string(p, "started_at");
  suite::pack_string(p, suite::iso8601_utc(s.started_at_ms));
  suite::pack_string(p, "last_event_at");
  suite::pack_string(p, suite::iso8601_utc(s.last_event_at_ms));
  suite::pack_string(p, "event_count");
  p.pack_int64(s.event_count);
  suite::pack_string(p, "total_tokens_in");
  p.pack_int64(s.tokens_in);
  suite::pack_string(p, "total_tokens_out");
  p.pack_int64(s.tokens_out);
  suite::pack_string(p, "total_cost_usd");
  suite::pack_decimal(p, format_nano_usd(s.cost_nano));
  suite::pack_string(p, "started_at_ms");
  p.pack_int64(s.started_at_ms);
}

void pack_stats(suite::msgpack_packer& p, const stats_counters& s) {
  p.pack_map(7);
  suite::pack_string(p, "total_events");
  p.pack_int64(s.total_events);
  suite::pack_string(p, "active_sessions");
  p.pack_int64(s.active_sessions);
  suite::pack_string(p, "total_sessions");
  p.pack_int64(s.total_sessions);
  suite::pack_string(p, "total_tokens_in");
  p.pack_int64(s.tokens_in);
  suite::pack_string(p, "total_tokens_out");
  p.pack_int64(s.tokens_out);
  suite::pack_string(p, "total_cost_usd");
  suite::pack_decimal(p, format_nano_usd(s.cost_nano));
  suite::pack_string(p, "duplicates");
  p.pack_int64(s.duplicates);
}

namespace {

constexpr const char* dedup_family = "dedup";
constexpr const char* meta_family = "meta";

// What every family shares: the one block cache (so its bound covers them all), bounded
// memtables, and index and filter blocks inside the cache.
rocksdb::ColumnFamilyOptions family_options(const std::shared_ptr<rocksdb::Cache>& cache,
                                            std::size_t memtable_bytes, bool with_filter,
                                            std::size_t block_size) {
  rocksdb::ColumnFamilyOptions o;
  o.write_buffer_size = memtable_bytes;
  o.max_write_buffer_number = 2;
  o.compression = rocksdb::kNoCompression;
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = cache;
  table.block_size = block_size;
  // Partitioned index (and filters): a lookup loads one small partition, not a whole
  // file's index, so the cache bound holds however large the files grow.
  table.index_type = rocksdb::BlockBasedTableOptions::kTwoLevelIndexSearch;
  table.metadata_block_size = 4096;
  table.cache_index_and_filter_blocks = true;  // so the cache bound covers them too
  table.cache_index_and_filter_blocks_with_high_priority = true;
  table.pin_top_level_index_and_filter = true;
  table.pin_l0_filter_and_index_blocks_in_cache = true;
  if (with_filter) {
    table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
    table.partition_filters = true;
    table.optimize_filters_for_memory = true;
    // Most lookups miss and are answered from the memtable: a bloom filter there saves
    // the skip-list search.
    o.memtable_whole_key_filtering = true;
    o.memtable_prefix_bloom_size_ratio = 0.05;
  }
  o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  return o;
}

// The events: written in key order, read by ranges. No filter (never probed for absent
// keys), bigger blocks (a smaller index; queries read runs of events), optional LZ4.
rocksdb::ColumnFamilyOptions events_options(const store_options& options,
                                            const std::shared_ptr<rocksdb::Cache>& cache) {
  auto o = family_options(cache, std::max<std::size_t>(options.memtable_bytes / 2, 256u << 10),
                          false, 16 * 1024);
  if (options.compress) {
    for (auto c : rocksdb::GetSupportedCompressions()) {
      if (c == rocksdb::kLZ4Compression) o.compression = rocksdb::kLZ4Compression;
    }
  }
  return o;
}

// The indexes (dedup; sessions and stats): small random-order records, rewritten by
// compaction. Small levels, so an L0 compaction rewrites a few MB, not a 256 MB level.
// Random keys overlap the whole base level, so each L0 compaction rewrites all of it:
// waiting for 8 flushed tables instead of RocksDB's 4 halves how often that happens.
// event-ingest-write-bench, 1.2M events: flush and compaction CPU 4.5-4.9 -> 3.0-3.2 us
// an event, the commit's lookups (which probe each L0 table's pinned filter) 4.1-4.4 ->
// 4.6 us. Writes slow down at RocksDB's 20 L0 tables, still well above this.
rocksdb::ColumnFamilyOptions index_options(const store_options& options,
                                           const std::shared_ptr<rocksdb::Cache>& cache) {
  std::size_t memtable = std::max<std::size_t>(options.memtable_bytes / 4, 256u << 10);
  auto o = family_options(cache, memtable, true, 4096);
  o.level_compaction_dynamic_level_bytes = true;
  o.max_bytes_for_level_base = 8 * memtable;
  o.target_file_size_base = 2 * memtable;
  o.level0_file_num_compaction_trigger = 8;
  return o;
}

}  // namespace

suite::result<std::unique_ptr<event_store>> event_store::open(const store_options& options) {
  std::unique_ptr<event_store> store(new event_store());
  rocksdb::DBOptions o;
  o.create_if_missing = true;
  o.create_missing_column_families = true;
  o.max_background_jobs = 2;  // the machines we size for have 2 cores
  o.max_open_files = 256;
  // RocksDB opens table files at start with this many threads per column family; the
  // default 16 spends more time making threads than opening our few files.
  o.max_file_opening_threads = 1;
  o.keep_log_file_num = 2;
  o.info_log_level = rocksdb::WARN_LEVEL;
  // A WAL past this forces the families holding its oldest records to flush, so
  // recovery after a crash replays a bounded log.
  o.max_total_wal_size = 4 * options.memtable_bytes;
  // Each file being written (the WAL, a flush's table, a compaction's) buffers up to
  // this much; the default 1 MB each is a tenth of the peak-RSS goal.
  o.writable_file_max_buffer_size = 256u << 10;
  // Flush and compaction run at the lowest CPU priority (nice 19; the pools are the
  // process's). The request path (bus, preparers, this writer) and the gateway have more
  // runnable threads than our 2 cores: at normal priority a flush thread woken by a
  // memtable switch took the core from the writer halfway through its commit, holding
  // that group's replies 2-5 ms. Background work still gets every cycle the request path
  // leaves, and if it falls behind, RocksDB's write stalls give it the cores back.
  auto* env = rocksdb::Env::Default();
  env->LowerThreadPoolCPUPriority(rocksdb::Env::Priority::LOW, rocksdb::CpuPriority::kLow);
  env->LowerThreadPoolCPUPriority(rocksdb::Env::Priority::HIGH, rocksdb::CpuPriority::kLow);

  // A database written by the one-family layout would be misread: refuse it.
  std::vector<std::string> existing;
  if (rocksdb::DB::ListColumnFamilies(o, options.path, &existing).ok()) {
    bool ours = std::find(existing.begin(), existing.end(), dedup_family) != existing.end() &&
                std::find(existing.begin(), existing.end(), meta_family) != existing.end();
    if (!ours)
      return suite::make_error(500, "storage_layout",
                               "the RocksDB database at " + options.path +
                                   " has no 'dedup' and 'meta' column families (written by an "
                                   "older event-ingest or another program); use an empty "
                                   "--data-dir");
  }

  // Few shards: the default 64 would leave 128 KB each in an 8 MB cache, and a block
  // bigger than its shard is evicted as soon as it is used, so every dedup lookup would
  // read and checksum it from the file again.
  store->cache_ = rocksdb::NewLRUCache(options.block_cache_bytes, /*num_shard_bits=*/1);
  std::vector<rocksdb::ColumnFamilyDescriptor> families{
      {rocksdb::kDefaultColumnFamilyName, events_options(options, store->cache_)},
      {dedup_family, index_options(options, store->cache_)},
      {meta_family, index_options(options, store->cache_)}};
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  auto s = rocksdb::DB::Open(o, options.path, families, &handles, &db);
  if (!s.ok())
    return suite::make_error(503, "storage_open_failed",
                             "cannot open RocksDB at " + options.path + ": " + s.ToString());
  store->db_.reset(db);
  store->events_ = handles[0];
  store->dedup_ = handles[1];
  store->meta_ = handles[2];
  store->write_options_.sync = options.sync == sync_policy::fsync;
  std::string bytes;
  s = db->Get(rocksdb::ReadOptions(), store->meta_, stats_key, &bytes);
  if (s.ok()) {
    auto stats = decode_stats(bytes);
    if (!stats) return suite::make_error(500, "storage_corrupt", "stats record is unreadable");
    store->counters_ = *stats;
  } else if (!s.IsNotFound()) {
    return storage_error(s);
  }
  return store;
}

event_store::~event_store() {
  if (!db_) return;
  for (auto* handle : {events_, dedup_, meta_}) {
    if (handle) db_->DestroyColumnFamilyHandle(handle).PermitUncheckedError();
  }
  db_->Close().PermitUncheckedError();
}

suite::result<group_outcome> event_store::commit_group(
    const std::vector<const std::vector<prepared_event>*>& batches) {
  // RocksDB's per-thread perf counters cost time on every call and nobody reads them.
  rocksdb::SetPerfLevel(rocksdb::PerfLevel::kDisable);
  group_outcome out;
  out.stats = counters_;
  stats_counters& stats = out.stats;
  rocksdb::ReadOptions read;

  // 1. Dedup: one batched lookup of every event_id the group carries (first occurrence).
  std::unordered_map<std::string_view, std::size_t> id_slot;
  std::vector<std::string> dedup_keys;
  for (const auto* batch : batches) {
    for (const auto& e : *batch) {
      if (e.deduplicates && id_slot.emplace(e.id, dedup_keys.size()).second)
        dedup_keys.push_back(dedup_key(e.id));
    }
  }
  // taken[slot]: the id is stored already, or by an earlier event of this group.
  std::vector<char> taken(dedup_keys.size(), 0);
  if (!dedup_keys.empty()) {
    std::vector<rocksdb::Slice> keys(dedup_keys.begin(), dedup_keys.end());
    std::vector<rocksdb::PinnableSlice> values(keys.size());
    std::vector<rocksdb::Status> statuses(keys.size());
    db_->MultiGet(read, dedup_, keys.size(), keys.data(), values.data(), statuses.data());
    for (std::size_t k = 0; k < keys.size(); ++k) {
      if (statuses[k].ok())
        taken[k] = 1;
      else if (!statuses[k].IsNotFound())
        return storage_error(statuses[k]);
    }
  }

  // 2. Which events are stored, and the sessions they touch (in first-seen order).
  struct stored_ref {
    std::size_t batch, index;
  };
  std::vector<stored_ref> to_store;
  std::unordered_map<std::string_view, std::size_t> session_slot;
  std::vector<std::string> session_keys;
  for (std::size_t b = 0; b < batches.size(); ++b) {
    batch_outcome& outcome = out.batches.emplace_back();
    const auto& batch = *batches[b];
    for (std::size_t i = 0; i < batch.size(); ++i) {
      const prepared_event& e = batch[i];
      if (e.deduplicates) {
        char& seen = taken[id_slot.at(e.id)];
        if (seen) {
          ++outcome.duplicates;
          continue;
        }
        seen = 1;
      }
      to_store.push_back({b, i});
      if (session_slot.emplace(e.session_id, session_keys.size()).second)
        session_keys.push_back(session_key(e.session_id));
    }
    stats.duplicates += outcome.duplicates;
  }

  // 3. The sessions as stored, one batched lookup.
  std::vector<session_record> sessions(session_keys.size());
  std::vector<char> known(session_keys.size(), 0);
  if (!session_keys.empty()) {
    std::vector<rocksdb::Slice> keys(session_keys.begin(), session_keys.end());
    std::vector<rocksdb::PinnableSlice> values(keys.size());
    std::vector<rocksdb::Status> statuses(keys.size());
    db_->MultiGet(read, meta_, keys.size(), keys.data(), values.data(), statuses.data());
    for (std::size_t k = 0; k < keys.size(); ++k) {
      if (statuses[k].ok()) {
        auto decoded = decode_session(values[k].ToStringView());
        if (!decoded)
          return suite::make_error(
              500, "storage_corrupt",
              "session record of " + session_keys[k].substr(1) + " is unreadable");
        sessions[k] = std::move(*decoded);
        known[k] = 1;
      } else if (!statuses[k].IsNotFound()) {
        return storage_error(statuses[k]);
      }
    }
  }

  // 4. Number the events and build the one WriteBatch. Each family's keys go in in key
  // order (events and the session index by seq, dedup keys sorted), so the memtable's
  // skip list inserts next to the previous key instead of searching from the top.
  std::size_t bytes = 64;
  for (const auto& r : to_store) bytes += (*batches[r.batch])[r.index].packed.size() + 96;
  rocksdb::WriteBatch write(bytes);
  std::vector<std::pair<std::string_view, std::uint64_t>> new_ids;
  std::string key;
  for (const auto& r : to_store) {
    const prepared_event& e = (*batches[r.batch])[r.index];
    batch_outcome& outcome = out.batches[r.batch];
    std::uint64_t seq = ++stats.last_seq;
    key.assign("e");
    append_be64(key, seq);
    write.Put(events_, key, e.packed);
    key.assign("s").append(e.session_id).push_back('\0');
    append_be64(key, seq);
    write.Put(meta_, key, rocksdb::Slice());
    if (e.deduplicates) new_ids.emplace_back(e.id, seq);

    std::size_t slot = session_slot.at(e.session_id);
    session_record& session = sessions[slot];
    if (!known[slot]) {
      known[slot] = 1;
      session.session_id = e.session_id;
      session.agent_type = e.agent_type;
      session.started_at_ms = e.created_at_ms;
      session.active = true;
      ++stats.total_sessions;
      ++stats.active_sessions;
    }
    if (e.event_type == "session_end" && session.active) {
      session.active = false;
      --stats.active_sessions;
    } else if (e.event_type == "session_start" && !session.active) {
      session.active = true;
      ++stats.active_sessions;
    }
    if (e.project) session.project = e.project;
    if (e.branch) session.branch = e.branch;
    session.last_event_at_ms = std::max(session.last_event_at_ms, e.created_at_ms);
    ++session.event_count;
    session.tokens_in += e.tokens_in;
    session.tokens_out += e.tokens_out;
    session.cost_nano += e.cost_nano;

    ++stats.total_events;
    stats.tokens_in += e.tokens_in;
    stats.tokens_out += e.tokens_out;
    stats.cost_nano += e.cost_nano;
    outcome.ids.push_back(e.id);
    outcome.stored.push_back(r.index);
    outcome.seqs.push_back(seq);
  }
  std::sort(new_ids.begin(), new_ids.end());
  for (const auto& [id, seq] : new_ids) {
    key.assign("d").append(id);
    std::string seq_bytes;
    append_be64(seq_bytes, seq);
    write.Put(dedup_, key, seq_bytes);
  }
  std::vector<std::size_t> by_key(sessions.size());
  for (std::size_t k = 0; k < by_key.size(); ++k) by_key[k] = k;
  std::sort(by_key.begin(), by_key.end(),
            [&](std::size_t a, std::size_t b) { return session_keys[a] < session_keys[b]; });
  for (auto k : by_key) write.Put(meta_, session_keys[k], encode_session(sessions[k]));
  write.Put(meta_, stats_key, encode_stats(stats));
  auto s = db_->Write(write_options_, &write);
  if (!s.ok()) return storage_error(s);
  counters_ = stats;
  out.sessions = std::move(sessions);
  return out;
}

suite::result<stats_counters> event_store::read_stats() const {
  std::string bytes;
  auto s = db_->Get(rocksdb::ReadOptions(), meta_, stats_key, &bytes);
  if (s.IsNotFound()) return stats_counters{};
  if (!s.ok()) return storage_error(s);
  auto stats = decode_stats(bytes);
  if (!stats) return suite::make_error(500, "storage_corrupt", "stats record is unreadable");
  return *stats;
}

suite::result<event_page> event_store::query_events(const event_query& q) const {
  event_page page;
  std::uint64_t before = q.before_seq.value_or(UINT64_MAX);
  std::string lower = q.session_id ? session_index_prefix(*q.session_id) : std::string("e");
  std::string upper = lower;
  append_be64(upper, before);
  rocksdb::ReadOptions ro;
  // One snapshot for the index scan and the event reads, so a page is consistent.
  const rocksdb::Snapshot* snapshot = db_->GetSnapshot();
  ro.snapshot = snapshot;
  rocksdb::Slice lower_slice(lower), upper_slice(upper);
  ro.iterate_lower_bound = &lower_slice;
  ro.iterate_upper_bound = &upper_slice;
  // The session index lives in the meta family, the events in the default one.
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, q.session_id ? meta_ : events_));
  std::size_t examined = 0;
  std::string value;
  msgpack::object_handle handle;
  for (it->SeekToLast(); it->Valid(); it->Prev()) {
    auto key = it->key();
    std::uint64_t seq = read_be64(std::string_view(key.data() + key.size() - 8, 8));
    if (page.events.size() >= q.limit || examined >= scan_budget) {
      page.next_cursor = seq + 1;  // resume at this entry
      break;
    }
    ++examined;
    std::string_view packed;
    if (q.session_id) {
      auto s = db_->Get(ro, events_, event_key(seq), &value);
      if (!s.ok()) continue;
      packed = value;
    } else {
      packed = std::string_view(it->value().data(), it->value().size());
    }
    auto fields = read_fields(packed, handle);
    if (!fields || !matches(q, *fields)) continue;
    page.events.emplace_back(packed);
  }
  auto status = it->status();
  it.reset();
  db_->ReleaseSnapshot(snapshot);
  if (!status.ok()) return storage_error(status);
  return page;
}

suite::result<event_store::scan_outcome> event_store::scan_after(
    std::uint64_t after, std::size_t limit,
    const std::function<void(std::uint64_t seq, std::string_view packed)>& visit) const {
  scan_outcome out;
  rocksdb::ReadOptions ro;
  const rocksdb::Snapshot* snapshot = db_->GetSnapshot();
  ro.snapshot = snapshot;
  std::string lower = event_key(after == UINT64_MAX ? after : after + 1), upper("f");
  rocksdb::Slice lower_slice(lower), upper_slice(upper);
  ro.iterate_lower_bound = &lower_slice;
  ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
  std::size_t visited = 0;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    auto key = it->key();
    std::uint64_t seq = read_be64(std::string_view(key.data() + key.size() - 8, 8));
    if (visited == limit) {
      out.truncated = true;
      break;
    }
    visit(seq, std::string_view(it->value().data(), it->value().size()));
    out.last_seq = seq;
    ++visited;
  }
  auto status = it->status();
  if (status.ok()) {
    // The newest seq of the snapshot, even when the limit stopped the scan early.
    it->SeekToLast();
    if (it->Valid()) {
      auto key = it->key();
      out.last_seq = read_be64(std::string_view(key.data() + key.size() - 8, 8));
    }
    status = it->status();
  }
  it.reset();
  db_->ReleaseSnapshot(snapshot);
  if (!status.ok()) return storage_error(status);
  if (out.last_seq < after) out.last_seq = after;
  return out;
}

suite::result<session_page> event_store::list_sessions(const std::optional<std::string>& after,
                                                       std::size_t limit) const {
  session_page page;
  rocksdb::ReadOptions ro;
  std::string upper("T");
  rocksdb::Slice upper_slice(upper);
  ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, meta_));
  std::string start = after ? session_key(*after) : std::string("S");
  for (it->Seek(start); it->Valid(); it->Next()) {
    auto key = it->key();
    if (after && key.ToStringView() == start) continue;
    if (page.sessions.size() >= limit) {
      page.next_cursor = page.sessions.back().session_id;
      break;
    }
    auto record = decode_session(it->value().ToStringView());
    if (!record) return suite::make_error(500, "storage_corrupt", "a session record is unreadable");
    page.sessions.push_back(std::move(*record));
  }
  if (!it->status().ok()) return storage_error(it->status());
  return page;
}

suite::result<std::optional<session_record>> event_store::read_session(
    const std::string& session_id) const {
  std::string bytes;
  auto s = db_->Get(rocksdb::ReadOptions(), meta_, session_key(session_id), &bytes);
  if (s.IsNotFound()) return std::optional<session_record>();
  if (!s.ok()) return storage_error(s);
  auto record = decode_session(bytes);
  if (!record)
    return suite::make_error(500, "storage_corrupt",
                             "session record of " + session_id + " is unreadable");
  return std::optional<session_record>(std::move(*record));
}

std::uint64_t event_store::memtable_bytes() const {
  std::uint64_t v = 0;
  for (auto* family : {events_, dedup_, meta_}) {
    std::uint64_t bytes = 0;
    db_->GetIntProperty(family, "rocksdb.cur-size-all-mem-tables", &bytes);
    v += bytes;
  }
  return v;
}

std::uint64_t event_store::block_cache_bytes() const { return cache_->GetUsage(); }

}  // namespace event_ingest
