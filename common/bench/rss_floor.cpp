// rss-floor-*: the resident memory a binary pays before its own code runs.
//
// Each rss-floor binary loads a subset of one of our binaries' shared libraries (a
// symbol of each is referenced, so --as-needed keeps it; none of them runs) and then
// does nothing, or, for the RocksDB floor, opens an empty database with RocksDB's
// default options in a temporary directory, as every RocksDB service must. It prints
// one line read from /proc/self/smaps_rollup and exits:
//
//   rss-floor-<name>: RSS <kB> kB (anonymous <kB> kB), PSS <kB> kB, <n> shared objects
//
//   rss-floor-gateway         libzmq (with its libsodium), prometheus-cpp (the gateway's)
//   rss-floor-service         + CAF (chat-cache's, less libxxhash)
//   rss-floor-clinic-records  + libpqxx (clinic-records' libraries)
//   rss-floor-rocksdb         + an empty RocksDB (event-ingest's; rem-store's less libxxhash)
//
// A memory goal below its line cannot be met with these libraries, whatever the binary
// does; the benches print their own figures next to it. tests/common/rss_floor_libraries.sh
// checks that each floor still loads its binary's shared objects (or a subset).
#include <prometheus/registry.h>
#include <zmq.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <string>

#include <unistd.h>

#if defined(SUITE_FLOOR_CAF)
#include <caf/all.hpp>
#endif
#if defined(SUITE_FLOOR_PQXX)
#include <pqxx/pqxx>
#endif
#if defined(SUITE_FLOOR_ROCKSDB)
#include <rocksdb/db.h>

#include <filesystem>
#endif

namespace {

// Never true at run time, but the compiler cannot know: the calls below stay in the
// binary, so the linker keeps every library, and none of them runs.
bool never(int argc) { return argc > 1000; }

void reference_libraries(int argc) {
  if (!never(argc)) return;
  zmq_ctx_term(zmq_ctx_new());
  prometheus::Registry registry;
#if defined(SUITE_FLOOR_CAF)
  caf::actor_system_config config;
  caf::actor_system system{config};
#endif
#if defined(SUITE_FLOOR_PQXX)
  pqxx::connection connection{""};
#endif
}

// The kB figures of /proc/self/smaps_rollup, by field name ("Rss", "Pss", ...), read
// once so the three printed figures come from one snapshot.
std::map<std::string, long> smaps_rollup_kb() {
  std::ifstream rollup("/proc/self/smaps_rollup");
  std::map<std::string, long> kb;
  std::string name;
  long value = 0;
  while (rollup >> name) {
    if (name.ends_with(':') && rollup >> value) kb[name.substr(0, name.size() - 1)] = value;
    rollup.clear();
    rollup.ignore(1 << 16, '\n');
  }
  return kb;
}

std::size_t shared_objects() {
  std::ifstream maps("/proc/self/maps");
  std::set<std::string> paths;
  for (std::string line; std::getline(maps, line);) {
    auto slash = line.find('/');
    if (slash != std::string::npos && line.find(".so", slash) != std::string::npos) {
      paths.insert(line.substr(slash));
    }
  }
  return paths.size();
}

}  // namespace

int main(int argc, [[maybe_unused]] char** argv) {
  reference_libraries(argc);
#if defined(SUITE_FLOOR_ROCKSDB)
  auto dir =
      std::filesystem::temp_directory_path() / ("rss-floor-rocksdb-" + std::to_string(::getpid()));
  rocksdb::Options options;
  options.create_if_missing = true;
  rocksdb::DB* db = nullptr;
  auto status = rocksdb::DB::Open(options, dir.string(), &db);
  if (!status.ok()) {
    std::fprintf(stderr, "%s: cannot open %s: %s\n", argv[0], dir.c_str(),
                 status.ToString().c_str());
    return 1;
  }
#endif
  auto kb = smaps_rollup_kb();
  std::printf("%s: RSS %ld kB (anonymous %ld kB), PSS %ld kB, %zu shared objects\n",
              SUITE_FLOOR_NAME, kb["Rss"], kb["Anonymous"], kb["Pss"], shared_objects());
#if defined(SUITE_FLOOR_ROCKSDB)
  delete db;
  std::filesystem::remove_all(dir);
#endif
  return 0;
}
