// event_store: the events, their dedup index, sessions and stats counters in one
// RocksDB database, each group of batches written in ONE WriteBatch, so the counters
// always equal what is stored, after any crash.
//
// Three column families (one WAL, so a WriteBatch across them is atomic), split so that
// each is written in key order and RocksDB can tune each (BE64 = big-endian u64, so keys
// sort by it):
//   default  'e' BE64(seq)                  -> event (msgpack map)   global order, newest last
//   "dedup"  'd' event_id                   -> BE64(seq)             dedup index
//   "meta"   's' session_id '\0' BE64(seq)  -> ""                    per-session order
//            'S' session_id                 -> session record        totals per session
//            "m:stats"                      -> stats counters
// Events arrive in seq order, so the default family's tables never overlap and reach
// the lower levels by trivial moves (no rewrite); only the small index records are
// compacted.
//
// Threads: commit_group() is called by ONE writer (it keeps the counters in memory and
// reads sessions without locks); the read_* / query_* methods are const, read only
// what is committed, and are safe from any number of threads at the same time as it.
// open() lowers RocksDB's flush and compaction threads to nice 19; those thread pools
// are the process's, so other RocksDB databases in it get the same.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <rocksdb/db.h>

#include "event_model.hpp"
#include "suite/msgpack_value.hpp"
#include "suite/result.hpp"

namespace event_ingest {

// When an acknowledged write is safe. fsync: the WAL is synced before the reply, so a
// power loss loses nothing acknowledged (the default). os: written to the OS before the
// reply, so a process crash loses nothing but a power loss may.
enum class sync_policy { fsync, os };

// Memory: the block cache holds data, index and filter blocks (bounded by
// block_cache_bytes); memtable_bytes is shared by the families' memtables (the events
// half, each index family a quarter), and each has at most two (the full one being
// flushed), so memtables take at most 2 x memtable_bytes.
struct store_options {
  std::string path;
  sync_policy sync = sync_policy::fsync;
  std::size_t block_cache_bytes = 4u << 20;
  std::size_t memtable_bytes = 4u << 20;
  bool compress = false;  // LZ4 on the events' tables (costs CPU on every flush)
};

struct stats_counters {
  std::int64_t total_events = 0;
  std::int64_t total_sessions = 0;
  std::int64_t active_sessions =
      0;  // sessions without a session_end (since their last session_start)
  std::int64_t tokens_in = 0;
  std::int64_t tokens_out = 0;
  std::int64_t cost_nano = 0;
  std::int64_t duplicates = 0;  // events refused as repeats of a stored event_id
  std::uint64_t last_seq = 0;
};

struct session_record {
  std::string session_id, agent_type;
  std::optional<std::string> project, branch;
  bool active = true;
  std::int64_t started_at_ms = 0, last_event_at_ms = 0;
  std::int64_t event_count = 0, tokens_in = 0, tokens_out = 0, cost_nano = 0;
};

// The JSON-facing map of a session record.
void pack_session(suite::msgpack_packer& p, const session_record& s, std::size_t extra_fields = 0);
// The JSON-facing map of the stats.
void pack_stats(suite::msgpack_packer& p, const stats_counters& s);

// What one batch of a group became.
struct batch_outcome {
  std::vector<std::string> ids;     // ids of the events stored
  std::vector<std::size_t> stored;  // their positions in the batch
  std::vector<std::uint64_t> seqs;  // their sequence numbers (global order)
  std::int64_t duplicates = 0;
};

struct group_outcome {
  std::vector<batch_outcome> batches;    // in the order given
  std::vector<session_record> sessions;  // each session the group changed, as stored
  stats_counters stats;                  // after the group
};

struct event_query {
  std::optional<std::string> session_id, agent_type, event_type;
  std::optional<std::int64_t> since_ms, until_ms;  // created_at_ms in [since, until]
  std::size_t limit = 100;
  std::optional<std::uint64_t> before_seq;  // cursor: only events older than this
};

struct event_page {
  std::vector<std::string> events;  // packed maps, newest first
  std::optional<std::uint64_t> next_cursor;
};

struct session_page {
  std::vector<session_record> sessions;  // by session_id
  std::optional<std::string> next_cursor;
};

class event_store {
 public:
  static suite::result<std::unique_ptr<event_store>> open(const store_options& options);
  ~event_store();
  event_store(const event_store&) = delete;
  event_store& operator=(const event_store&) = delete;

  // Writer only. Dedups (against the store and within the group), numbers, and writes
  // every batch in one WriteBatch with the configured sync. On failure nothing changed.
  suite::result<group_outcome> commit_group(
      const std::vector<const std::vector<prepared_event>*>& batches);
  // Writer only: the counters as of the last commit.
  const stats_counters& counters() const { return counters_; }

  // Any thread.
  suite::result<stats_counters> read_stats() const;
  suite::result<event_page> query_events(const event_query& query) const;
  suite::result<session_page> list_sessions(const std::optional<std::string>& after,
                                            std::size_t limit) const;
  suite::result<std::optional<session_record>> read_session(const std::string& session_id) const;
  // Visits the stored events with seq > `after`, oldest first, at most `limit` of them,
  // from one snapshot. `last_seq`: the newest seq in that snapshot; `truncated`: events
  // after the last visited one were left out by the limit.
  struct scan_outcome {
    std::uint64_t last_seq = 0;
    bool truncated = false;
  };
  suite::result<scan_outcome> scan_after(
      std::uint64_t after, std::size_t limit,
      const std::function<void(std::uint64_t seq, std::string_view packed)>& visit) const;
  // Bytes of memtables and of the block cache, for the metrics.
  std::uint64_t memtable_bytes() const;
  std::uint64_t block_cache_bytes() const;

 private:
  event_store() = default;

  std::unique_ptr<rocksdb::DB> db_;
  // Family handles, destroyed before the database is closed (the destructor).
  rocksdb::ColumnFamilyHandle* events_ = nullptr;
  rocksdb::ColumnFamilyHandle* dedup_ = nullptr;
  rocksdb::ColumnFamilyHandle* meta_ = nullptr;
  std::shared_ptr<rocksdb::Cache> cache_;
  rocksdb::WriteOptions write_options_;
  stats_counters counters_;
};

}  // namespace event_ingest
