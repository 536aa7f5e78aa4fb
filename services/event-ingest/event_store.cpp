#include "event_store.hpp"

#include <unordered_map>
#include <unordered_set>

#include <rocksdb/cache.h>
#include <rocksdb/convenience.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include "money.hpp"

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
    auto handle = msgpack::unpack(bytes.data(), bytes.size());
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
    auto handle = msgpack::unpack(bytes.data(), bytes.size());
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
    handle = msgpack::unpack(packed.data(), packed.size());
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
  suite::pack_string(p, iso8601_utc(s.started_at_ms));
  suite::pack_string(p, "last_event_at");
  suite::pack_string(p, iso8601_utc(s.last_event_at_ms));
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

suite::result<std::unique_ptr<event_store>> event_store::open(const store_options& options) {
  std::unique_ptr<event_store> store(new event_store());
  rocksdb::Options o;
  o.create_if_missing = true;
  o.write_buffer_size = options.memtable_bytes;
  o.max_write_buffer_number = 2;
  o.max_background_jobs = 2;
  o.max_open_files = 256;
  o.keep_log_file_num = 2;
  o.info_log_level = rocksdb::WARN_LEVEL;
  // Bound the memory of the log readers and the table readers, not only the caches.
  o.max_total_wal_size = 4 * options.memtable_bytes;
  // Most dedup lookups miss and are answered from the memtable: a bloom filter there
  // saves the skip-list search.
  o.memtable_whole_key_filtering = true;
  o.memtable_prefix_bloom_size_ratio = 0.05;
  // Few shards: the default 64 would leave 128 KB each in an 8 MB cache, and a block
  // bigger than its shard is evicted as soon as it is used, so every dedup lookup would
  // read and checksum it from the file again.
  store->cache_ = rocksdb::NewLRUCache(options.block_cache_bytes, /*num_shard_bits=*/1);
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = store->cache_;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  // Partitioned index and filters: a lookup loads one small partition, not a whole
  // file's filter, so the cache bound holds however large the files grow.
  table.index_type = rocksdb::BlockBasedTableOptions::kTwoLevelIndexSearch;
  table.partition_filters = true;
  table.metadata_block_size = 4096;
  table.cache_index_and_filter_blocks = true;  // so the cache bound covers them too
  table.cache_index_and_filter_blocks_with_high_priority = true;
  table.pin_top_level_index_and_filter = true;
  table.pin_l0_filter_and_index_blocks_in_cache = true;
  table.optimize_filters_for_memory = true;
  o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  for (auto c : rocksdb::GetSupportedCompressions()) {
    if (c == rocksdb::kLZ4Compression) o.compression = rocksdb::kLZ4Compression;
  }
  rocksdb::DB* db = nullptr;
  auto s = rocksdb::DB::Open(o, options.path, &db);
  if (!s.ok())
    return suite::make_error(503, "storage_open_failed",
                             "cannot open RocksDB at " + options.path + ": " + s.ToString());
  store->db_.reset(db);
  store->write_options_.sync = options.sync == sync_policy::fsync;
  std::string bytes;
  s = db->Get(rocksdb::ReadOptions(), stats_key, &bytes);
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
  if (db_) db_->Close().PermitUncheckedError();
}

suite::result<group_outcome> event_store::commit_group(
    const std::vector<const std::vector<prepared_event>*>& batches) {
  group_outcome out;
  out.stats = counters_;
  stats_counters& stats = out.stats;
  rocksdb::WriteBatch write;
  std::unordered_set<std::string_view> ids_in_group;
  std::unordered_map<std::string, session_record> sessions;
  std::vector<std::string> session_order;
  rocksdb::ReadOptions read;
  std::string value;
  for (const auto* batch : batches) {
    batch_outcome& outcome = out.batches.emplace_back();
    for (std::size_t i = 0; i < batch->size(); ++i) {
      const prepared_event& e = (*batch)[i];
      if (e.deduplicates) {
        if (ids_in_group.contains(e.id)) {
          ++outcome.duplicates;
          continue;
        }
        auto s = db_->Get(read, dedup_key(e.id), &value);
        if (s.ok()) {
          ++outcome.duplicates;
          continue;
        }
        if (!s.IsNotFound()) return storage_error(s);
        ids_in_group.insert(e.id);
      }
      std::uint64_t seq = ++stats.last_seq;
      std::string seq_bytes;
      append_be64(seq_bytes, seq);
      write.Put(event_key(seq), e.packed);
      write.Put(session_index_prefix(e.session_id) + seq_bytes, rocksdb::Slice());
      if (e.deduplicates) write.Put(dedup_key(e.id), seq_bytes);

      auto found = sessions.find(e.session_id);
      if (found == sessions.end()) {
        session_record record;
        auto s = db_->Get(read, session_key(e.session_id), &value);
        if (s.ok()) {
          auto decoded = decode_session(value);
          if (!decoded)
            return suite::make_error(500, "storage_corrupt",
                                     "session record of " + e.session_id + " is unreadable");
          record = std::move(*decoded);
        } else if (s.IsNotFound()) {
          record.session_id = e.session_id;
          record.agent_type = e.agent_type;
          record.started_at_ms = e.created_at_ms;
          record.active = true;
          ++stats.total_sessions;
          ++stats.active_sessions;
        } else {
          return storage_error(s);
        }
        found = sessions.emplace(e.session_id, std::move(record)).first;
        session_order.push_back(e.session_id);
      }
      session_record& session = found->second;
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
      outcome.stored.push_back(i);
    }
    stats.duplicates += outcome.duplicates;
  }
  for (const auto& id : session_order) {
    const auto& record = sessions.at(id);
    write.Put(session_key(id), encode_session(record));
    out.sessions.push_back(record);
  }
  write.Put(stats_key, encode_stats(stats));
  auto s = db_->Write(write_options_, &write);
  if (!s.ok()) return storage_error(s);
  counters_ = stats;
  return out;
}

suite::result<stats_counters> event_store::read_stats() const {
  std::string bytes;
  auto s = db_->Get(rocksdb::ReadOptions(), stats_key, &bytes);
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
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
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
      auto s = db_->Get(ro, event_key(seq), &value);
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

suite::result<session_page> event_store::list_sessions(const std::optional<std::string>& after,
                                                       std::size_t limit) const {
  session_page page;
  rocksdb::ReadOptions ro;
  std::string upper("T");
  rocksdb::Slice upper_slice(upper);
  ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
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
  auto s = db_->Get(rocksdb::ReadOptions(), session_key(session_id), &bytes);
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
  db_->GetIntProperty("rocksdb.cur-size-all-mem-tables", &v);
  return v;
}

std::uint64_t event_store::block_cache_bytes() const { return cache_->GetUsage(); }

}  // namespace event_ingest
